# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Why skip connections
#
# The lecture notes say that deep plain networks suffer from *vanishing
# gradients* and that skip connections fix it. The ResNet paper is more
# careful (section 4.1): its plain networks have batch normalisation, which
# "ensures forward propagated signals to have non-zero variances", and the
# authors "verify that the backward propagated gradients exhibit healthy norms
# with BN". They call the deeper plain network's higher training error an
# *optimisation difficulty* (degradation), not vanishing gradients.
#
# This page measures both: the gradient that reaches every layer at
# initialisation, for the paper's CIFAR ResNets of 20, 56 and 110 layers, their
# plain twins (the same networks with `PlainBlock`, i.e. without the additions)
# and their [pre-activation](../../preact_resnet/) twins; then the training of
# plain and residual networks of 20 and 56 layers, three seeds each, to the end
# of a one-cycle schedule. Everything runs with fixed seeds; the outputs below are a
# stored run (its machine and date are at the top of the page).

# %% tags=["parameters"]
SCALE = "full"  # "smoke": one epoch of two batches, one seed: how the test suite checks that the page runs
DATA_ROOT = None  # a folder with CIFAR-10 (torchvision's cifar-10-batches-py): train on it instead of the digits
EPOCHS = 20  # passes over the training images

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch.nn.functional as F
from _common import DEVICE, band, digits_loaders, plot_style, say, seed_everything, show, train
from torch import nn

from refimpl.preact_resnet import PreActBasicBlock, preact_resnet_cifar
from refimpl.resnet import BasicBlock, PlainBlock, resnet_cifar
from refimpl.tools.data import make_loaders
from refimpl.tools.train import Recipe

plot_style()

# %% [markdown]
# ## Gradients at initialisation
#
# One batch of 64 digits (16x16 pixels, as trained below), one forward and backward pass in training mode (BN
# uses the batch's statistics, as in training), and the norm of the gradient
# of every weighted layer's weight, from the first convolution (layer 1) to
# the classifier (layer 6n + 2). The three kinds of network have the same
# weighted layers; they differ in what joins them:
#
# - **ResNet**: $y = \operatorname{ReLU}(x + \mathcal{F}(x))$, the paper's block;
# - **pre-activation**: $y = x + \mathcal{F}(x)$ with BN and ReLU moved into
#   $\mathcal{F}$, so nothing sits on the shortcut;
# - **plain**: $y = \operatorname{ReLU}(\mathcal{F}(x))$, no shortcut.
#
# All three start from the papers' initialisation, every convolution
# He-initialised: the pre-activation networks are built with
# `zero_init_residual=False`, since their default zeroes the last convolution
# of each branch, which would make every block the identity at initialisation
# and give the weights before it a zero gradient.

# %%
DEPTHS = (20, 56, 110)
NETWORKS = {
    "ResNet": lambda depth: resnet_cifar(depth=depth, block=BasicBlock),
    "pre-activation": lambda depth: preact_resnet_cifar(depth=depth, block=PreActBasicBlock, zero_init_residual=False),
    "plain": lambda depth: resnet_cifar(depth=depth, block=PlainBlock),
}
COLORS = {"ResNet": "tab:blue", "pre-activation": "tab:green", "plain": "tab:orange"}
train_loader, _ = digits_loaders(batch_size=64, size=16, seed=0)
images, labels = next(iter(train_loader))  # (64, 3, 16, 16), (64,)
images, labels = images.cpu(), labels.cpu()  # the gradients are measured on the CPU, the same on every machine


def gradients(model: nn.Module) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One backward pass: every weight's gradient norm, input to output; the gradient norm at each
    block's input and, last, at the last block's output; and which blocks change the shape."""
    blocks = [block for stage in (model.layer1, model.layer2, model.layer3) for block in stage]
    seen = []

    def keep(x):  # keep the gradient of a tensor that flows between blocks
        x.retain_grad()
        seen.append(x)

    hooks = [block.register_forward_pre_hook(lambda _, args: keep(args[0])) for block in blocks]
    hooks.append(blocks[-1].register_forward_hook(lambda _, __, out: keep(out)))
    model.train()
    F.cross_entropy(model(images), labels).backward()
    for hook in hooks:
        hook.remove()
    layers = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    weights = np.array([m.weight.grad.norm().item() for m in layers])
    stream = np.array([x.grad.norm().item() for x in seen])
    return weights, stream, np.array([b.downsample is not None for b in blocks])


weight_grad, stream_grad, reshapes = {}, {}, {}
for depth in DEPTHS:
    for kind, build in NETWORKS.items():
        seed_everything(0)
        weight_grad[kind, depth], stream_grad[kind, depth], reshapes[depth] = gradients(build(depth))
        assert len(weight_grad[kind, depth]) == depth  # 6n + 2 weighted layers, whatever joins them

# %%
fig, axes = plt.subplots(len(DEPTHS), 1, figsize=(6, 7.8), sharey=True)
for ax, depth in zip(axes, DEPTHS, strict=True):
    for kind in NETWORKS:
        ax.plot(np.arange(1, depth + 1), weight_grad[kind, depth], color=COLORS[kind], lw=1.4, label=kind)
    ax.set_yscale("log")
    ax.set_title(f"{depth} layers")
    ax.set_ylabel("‖∂loss/∂W‖")
axes[0].legend(loc="upper right", ncol=3, fontsize=9)
axes[-1].set_xlabel("layer (1 = first convolution, last = classifier)")
fig.suptitle("Gradient norm per layer at initialisation (log scale)")
fig.tight_layout()
show(
    fig,
    f"Three log-scale line plots, one per depth ({', '.join(map(str, DEPTHS))} layers), of each layer's weight "
    f"gradient norm at initialisation for ResNet, pre-activation ResNet and plain networks. The plain network's "
    f"gradient grows towards the input, by {weight_grad['plain', 110][0] / np.median(weight_grad['plain', 110]):,.0f} "
    f"times the median layer's at 110 layers; the residual networks' stay within a narrower band.",
    f"깊이마다({', '.join(map(str, DEPTHS))}층) 하나씩 그린 로그 눈금 선 그래프 세 개입니다. 가로축은 층 번호"
    f"(1 = 첫 합성곱, 마지막 = 분류기), 세로축은 초기화 시점에 각 층의 가중치가 받는 기울기의 노름이며, 파란 선은 "
    f"ResNet, 초록 선은 사전 활성화 ResNet, 주황 선은 플레인 네트워크입니다. 플레인 네트워크의 기울기는 입력 "
    f"쪽으로 갈수록 커져서, 110층에서는 중앙값 층의 "
    f"{weight_grad['plain', 110][0] / np.median(weight_grad['plain', 110]):,.0f}배가 됩니다. 잔차 네트워크들의 "
    f"기울기는 더 좁은 범위 안에 머뭅니다.",
)

# %% [markdown]
# The ratio of the first convolution's gradient norm to the median over the
# network's layers says whether the gradient fades (ratio well below 1) or
# grows (well above 1) on its way back to the input:

# %% tags=["remove_input"]
ratio = {key: g[0] / np.median(g) for key, g in weight_grad.items()}
spread_grad = {key: g.max() / g.min() for key, g in weight_grad.items()}
say(
    "| depth | "
    + " | ".join(f"{kind}: first layer / median" for kind in NETWORKS)
    + " |\n|---:|"
    + "---:|" * len(NETWORKS)
    + "\n"
    + "\n".join(f"| {d} | " + " | ".join(f"{ratio[k, d]:,.1f}" for k in NETWORKS) + " |" for d in DEPTHS),
    "| 깊이 | "
    + " | ".join(f"{kind}: 첫 층 / 중앙값" for kind in NETWORKS)
    + " |\n|---:|"
    + "---:|" * len(NETWORKS)
    + "\n"
    + "\n".join(f"| {d} | " + " | ".join(f"{ratio[k, d]:,.1f}" for k in NETWORKS) + " |" for d in DEPTHS),
)

# %% [markdown]
# ### Through the blocks: is the identity exact?
#
# A pre-activation block computes $x_{l+1} = x_l + \mathcal{F}(x_l)$, so the
# gradient it passes back is
# $\frac{\partial \mathcal{E}}{\partial x_l} = \frac{\partial \mathcal{E}}{\partial x_{l+1}}
# \left(I + \frac{\partial \mathcal{F}}{\partial x_l}\right)$: the gradient it
# receives comes through unchanged, plus the residual's term. Only the
# residual's term cancelling it could make a block pass back *less* gradient
# than it receives. In the original block the ReLU after the addition masks
# both terms wherever the sum is negative. Here is each block's *backward
# gain*, the norm of the gradient at its input over the norm at its output,
# for the blocks that keep the shape (at the two that subsample, the shortcut
# drops three positions in four, and their gradient with them).

# %% tags=["remove_input"]
gain = {key: g[:-1] / g[1:] for key, g in stream_grad.items()}  # block l: |dE/dx_l| / |dE/dx_l+1|
kept = {key: gn[~reshapes[key[1]]] for key, gn in gain.items()}  # blocks whose shortcut is the identity
through = {key: g[0] / g[-1] for key, g in stream_grad.items()}  # first block's input / last block's output
say(
    "| network | smallest gain | largest gain | blocks with gain < 1 | gradient at the first block / at the last |\n"
    "|---|---:|---:|---:|---:|\n"
    + "\n".join(
        f"| {kind}-{d} | {kept[kind, d].min():.3f} | {kept[kind, d].max():.2f} | "
        f"{int((kept[kind, d] < 1).sum())} of {len(kept[kind, d])} | {through[kind, d]:,.3g} |"
        for d in DEPTHS
        for kind in NETWORKS
    ),
    "| 네트워크 | 가장 작은 이득 | 가장 큰 이득 | 이득 < 1인 블록 | 첫 블록의 기울기 / 마지막 블록의 기울기 |\n"
    "|---|---:|---:|---:|---:|\n"
    + "\n".join(
        f"| {kind}-{d} | {kept[kind, d].min():.3f} | {kept[kind, d].max():.2f} | "
        f"{len(kept[kind, d])}개 중 {int((kept[kind, d] < 1).sum())}개 | {through[kind, d]:,.3g} |"
        for d in DEPTHS
        for kind in NETWORKS
    ),
)

# %% [markdown]
# ## Training plain and residual networks
#
# The paper's figure 6 trains plain and residual networks of 20 to 110 layers
# on CIFAR-10: the deeper *plain* network ends with the higher training error
# (degradation, left), while the deeper *ResNet* ends with the lower one
# (middle). Here the same four networks train on `digits`, scikit-learn's
# 1,797 handwritten digits (1,437 for training, 360 for testing), a data set
# that ships with the library, so it needs no download. Its images are 8x8
# grey pixels; they are fed at 16x16 (each pixel repeated), with the random
# crop of CIFAR-10's augmentation (2 pixels of padding at this size, no flip).
# Three differences from CIFAR-10 matter for what follows: a twentieth of the
# training images, ten simple shapes instead of ten kinds of object, and an
# image a quarter of the size, so a network of 20 layers already has more
# capacity than the task needs. With `DATA_ROOT` set, the same cell trains on
# CIFAR-10 at 32x32 instead.
#
# The recipe is `refimpl.tools.train.fit`'s: SGD with Nesterov momentum, a
# one-cycle learning rate that warms up over the first quarter of the steps to
# a peak of 0.1 and anneals to nearly 0, weight decay 5e-4, batches of 64, and
# no label smoothing, so that the training loss can reach 0. A seed fixes the
# initial weights, the order of the batches and the augmentation, the same for
# a plain network and its ResNet twin. The training error is measured on the
# augmented batches during each epoch, as the paper's is.

# %%
SEEDS, MAX_STEPS = (0, 1, 2), None
if SCALE == "smoke":
    EPOCHS, SEEDS, MAX_STEPS = 1, (0,), 2
TRAINED = {"plain-20": (20, PlainBlock), "plain-56": (56, PlainBlock), "ResNet-20": (20, BasicBlock)}
TRAINED["ResNet-56"] = (56, BasicBlock)
runs = {}  # (name, seed) -> the metrics of every epoch
for name, (depth, block) in TRAINED.items():
    for seed in SEEDS:
        seed_everything(seed)
        model = resnet_cifar(depth=depth, block=block)
        if DATA_ROOT is None:  # digits at 16x16
            data = digits_loaders(batch_size=64, size=16, seed=seed)
        else:  # CIFAR-10 at 32x32
            data = make_loaders("cifar10", 128, DEVICE, root=DATA_ROOT, seed=seed)
        recipe = Recipe(epochs=EPOCHS, lr=0.1, seed=seed, label_smoothing=0, max_steps=MAX_STEPS, log_every=1)
        runs[name, seed] = train(model, data, recipe)

# %%
STYLE = {"plain-20": "tab:orange", "plain-56": "tab:red", "ResNet-20": "tab:blue", "ResNet-56": "tab:purple"}
epochs = np.arange(1, EPOCHS + 1)
train_error = {n: 100 * (1 - np.array([runs[n, s].train_accuracy for s in SEEDS])) for n in TRAINED}  # (seeds, epochs)
test_error = {n: 100 * (1 - np.array([runs[n, s].test_accuracy for s in SEEDS])) for n in TRAINED}
fig, (ax_train, ax_test) = plt.subplots(2, 1, figsize=(6, 6.4), sharex=True)
for name, color in STYLE.items():
    band(ax_train, epochs, train_error[name], color, name)
    band(ax_test, epochs, test_error[name], color, name)
ax_train.set_ylabel("training error (%)")
ax_train.set_title("Training error, on the augmented batches of each epoch")
ax_test.set_ylabel("test error (%)")
ax_test.set_title("Test error after each epoch")
ax_test.set_xlabel("epoch")
for ax in (ax_train, ax_test):
    ax.set_ylim(0, 100)
    ax.legend(loc="upper right", ncol=2)
fig.tight_layout()
final = {n: train_error[n][:, -1] for n in TRAINED}  # (seeds,): the last epoch's training error
show(
    fig,
    "Two line plots over the epochs, training error above and test error below, for plain-20, plain-56, "
    "ResNet-20 and ResNet-56 (median of the seeds, their range shaded). Last-epoch training error, median: "
    + ", ".join(f"{n} {np.median(final[n]):.1f}%" for n in TRAINED)
    + ".",
    "에포크에 따른 선 그래프 두 개로, 위는 훈련 오차, 아래는 시험 오차(세로축은 %)이며 plain-20(주황), "
    "plain-56(빨강), ResNet-20(파랑), ResNet-56(보라)을 그립니다(선은 시드들의 중앙값, 띠는 그 범위). "
    "마지막 에포크의 훈련 오차 중앙값: " + ", ".join(f"{n} {np.median(final[n]):.1f}%" for n in TRAINED) + ".",
)

# %% [markdown]
# Lines are the median of the seeds, bands their range (minimum to maximum).
#
# ## What this run shows

# %% tags=["remove_input"]
final_loss = {n: np.array([runs[n, s].train_loss[-1] for s in SEEDS]) for n in TRAINED}  # last epoch's mean
final_test = {n: test_error[n][:, -1] for n in TRAINED}


def compare(values: dict[str, np.ndarray], a: str, b: str, what: str) -> str:
    """Whether ``a`` ends below ``b`` in ``values`` in every seed, above in every seed, or neither, in words."""
    va, vb = values[a], values[b]
    if va.max() < vb.min():
        return f"{a} ends with the lower {what} in every seed"
    if vb.max() < va.min():
        return f"{b} ends with the lower {what} in every seed"
    return f"no clear difference in {what} between {a} and {b} (their seeds' ranges overlap)"


def compare_ko(values: dict[str, np.ndarray], a: str, b: str, what: str) -> str:
    """``compare`` in Korean (``what`` in Korean too)."""
    va, vb = values[a], values[b]
    if va.max() < vb.min():
        return f"모든 시드에서 더 낮은 {what}로 끝나는 쪽은 {a}입니다"
    if vb.max() < va.min():
        return f"모든 시드에서 더 낮은 {what}로 끝나는 쪽은 {b}입니다"
    return f"{what}에서는 {a}, {b} 사이에 뚜렷한 차이가 없습니다(두 네트워크의 시드별 범위가 겹칩니다)"


def spread(values: np.ndarray, unit: str = "%", digits: int = 1) -> str:
    """The median of the seeds and their range, e.g. "48.2% (45.0-51.3%)"."""
    return f"{np.median(values):.{digits}f}{unit} ({values.min():.{digits}f}-{values.max():.{digits}f}{unit})"


res_110, pre_110, plain_110 = (ratio[k, 110] for k in NETWORKS)
shrinks = {kind: int(sum((kept[kind, d] < 1).sum() for d in DEPTHS)) for kind in NETWORKS}
blocks_checked = sum(len(kept["ResNet", d]) for d in DEPTHS)
pre_min = min(kept["pre-activation", d].min() for d in DEPTHS)
any_vanish = any(ratio["plain", d] < 0.1 for d in DEPTHS)
degraded = final["plain-56"].min() > final["plain-20"].max()
plain_trains = np.median(final["plain-56"]) < 80  # well below chance's 90% error: it learnt something
deeper_res_lower = final_loss["ResNet-56"].max() < final_loss["ResNet-20"].min()
data_name = "digits at 16x16" if DATA_ROOT is None else "CIFAR-10"
data_name_ko = "16x16 크기의 digits" if DATA_ROOT is None else "CIFAR-10"


def degradation() -> str:
    if degraded and plain_trains:
        capacity = (
            " plain-20 fits the training images almost all, and plain-56 can compute all plain-20 can (let its "
            "extra layers pass their input through), so the gap is a difficulty of optimisation, not of capacity."
            if np.median(final["plain-20"]) < 1
            else ""
        )
        return (
            "plain-56 trains, but ends with a higher training error than plain-20 in every seed: the degradation "
            "of the paper's figure 6 (left)." + capacity
        )
    if degraded:
        return "plain-56 barely leaves chance, far above plain-20's error: more than the paper's degradation."
    return "plain-56 does not end above plain-20 in every seed: this run does not show the paper's degradation."


def degradation_ko() -> str:
    if degraded and plain_trains:
        capacity = (
            " plain-20은 훈련 이미지를 거의 다 맞히고, plain-56도 plain-20의 계산을 모두 할 수 있으므로(늘어난 층이 "
            "입력을 그대로 통과시키면 됩니다), 이 차이는 용량이 아니라 최적화의 어려움에서 옵니다."
            if np.median(final["plain-20"]) < 1
            else ""
        )
        return (
            "plain-56은 훈련은 되지만, 모든 시드에서 plain-20보다 높은 훈련 오차로 끝납니다. 논문 그림 6(왼쪽)의 "
            "성능 저하입니다." + capacity
        )
    if degraded:
        return (
            "plain-56은 우연 수준을 거의 벗어나지 못해 plain-20보다 오차가 훨씬 높습니다. "
            "논문의 성능 저하보다 더 심합니다."
        )
    return (
        "plain-56이 모든 시드에서 plain-20보다 높게 끝나지는 않습니다. 이 실행은 논문의 성능 저하를 보여 주지 않습니다."
    )


def identity_path() -> str:
    """What the pre-activation blocks' backward gains say about the identity path, from the numbers above."""
    identity = r"$I + \partial\mathcal{F}/\partial x$"
    if shrinks["pre-activation"] == 0:
        return (
            f"no pre-activation block passes back less gradient than it receives (smallest gain {pre_min:.3f}), "
            f"as {identity} predicts when nothing sits on the shortcut"
        )
    return (
        f"{shrinks['pre-activation']} pre-activation blocks pass back less gradient than they receive (smallest "
        f"gain {pre_min:.3f}): with nothing on the shortcut, in {identity} only a residual term that partly "
        "cancels the identity can do that"
    )


def identity_path_ko() -> str:
    identity = r"$I + \partial\mathcal{F}/\partial x$"
    if shrinks["pre-activation"] == 0:
        return (
            f"받은 것보다 적은 기울기를 돌려보내는 사전 활성화 블록은 없습니다(가장 작은 이득 {pre_min:.3f}). "
            f"숏컷 위에 아무것도 없을 때 {identity} 가 예측하는 대로입니다"
        )
    return (
        f"사전 활성화 블록 {shrinks['pre-activation']}개가 받은 것보다 적은 기울기를 돌려보냅니다(가장 작은 이득 "
        f"{pre_min:.3f}). 숏컷 위에 아무것도 없으므로, {identity} 에서는 잔차 항이 항등 항을 일부 상쇄할 때만 "
        "그럴 수 있습니다"
    )


def deeper_resnet() -> str:
    if deeper_res_lower:
        return "ResNet-56 ends with the lower training loss in every seed, as in the paper's figure 6 (middle)."
    return (
        "ResNet-56 does **not** end below ResNet-20, unlike the paper's figure 6 (middle): "
        + compare(final_loss, "ResNet-56", "ResNet-20", "training loss")
        + (
            ". Both fit the training images almost all (under 1% error), so the extra depth has nothing left to "
            "improve on this task; the paper's gap needs a task on which more capacity still lowers the training "
            "error, such as CIFAR-10 (set `DATA_ROOT`)."
            if max(np.median(final["ResNet-20"]), np.median(final["ResNet-56"])) < 1
            else "."
        )
        if DATA_ROOT is None
        else "ResNet-56 does **not** end below ResNet-20 at this length of training, unlike the paper's figure 6 "
        "(middle), which trains for 64,000 iterations."
    )


def deeper_resnet_ko() -> str:
    if deeper_res_lower:
        return "ResNet-56은 모든 시드에서 더 낮은 훈련 손실로 끝납니다. 논문 그림 6(가운데)과 같습니다."
    return (
        "ResNet-56은 ResNet-20보다 낮게 끝나지 **않으며**, 논문 그림 6(가운데)과 다릅니다. "
        + compare_ko(final_loss, "ResNet-56", "ResNet-20", "훈련 손실")
        + (
            ". 두 네트워크 모두 훈련 이미지를 거의 다 맞히므로(오차 1% 미만) 이 과제에서는 늘어난 깊이로 더 나아질 "
            "것이 남아 있지 않습니다. 논문과 같은 차이를 보려면 용량이 늘수록 훈련 오차가 여전히 낮아지는 과제, "
            "예를 들어 CIFAR-10이 필요합니다(`DATA_ROOT`를 설정하세요)."
            if max(np.median(final["ResNet-20"]), np.median(final["ResNet-56"])) < 1
            else "."
        )
        if DATA_ROOT is None
        else "ResNet-56은 이 훈련 길이에서 ResNet-20보다 낮게 끝나지 **않으며**, 64,000번 반복(iteration) 훈련하는 "
        "논문 그림 6(가운데)과 다릅니다."
    )


say(
    f"""
- **Gradients at initialisation.** The first layer's gradient is {plain_110:,.0f} times the
  median layer's in plain-110, {res_110:.0f} times in ResNet-110 and {pre_110:.0f} times in the
  pre-activation ResNet-110.
  {
        "The plain networks' gradients do vanish in this run, against the paper's claim for BN networks."
        if any_vanish
        else "With batch normalisation the plain networks' gradients do **not** vanish, as the paper says; "
        "the lecture notes' 'vanishing gradients' describes networks without BN."
    }
  Without skip connections they *grow* towards the input, and geometrically with depth (plain-110
  spans a factor of {spread_grad["plain", 110]:.1e} between its largest and smallest layer gradient,
  ResNet-110 a factor of {spread_grad["ResNet", 110]:.0f}, the pre-activation ResNet-110 {
        spread_grad["pre-activation", 110]:.0f}):
  the gradient explosion that batch normalisation causes in deep plain networks at
  initialisation (Yang et al. 2019, arXiv:1902.08129), an ill-conditioned start, not a vanished signal.
- **The identity path.** Over the {blocks_checked} shape-keeping blocks of the three depths,
  {identity_path()}; in the
  original ResNet {shrinks["ResNet"]} {"block does" if shrinks["ResNet"] == 1 else "blocks do"}, where the
  ReLU after the addition cuts the identity. The pre-activation gradient still grows towards the
  input, by {through["pre-activation", 110]:,.0f} times over the {
        len(stream_grad["ResNet", 110]) - 1
    } blocks of the 110-layer network (the
  residual terms add up, block after block), against {through["ResNet", 110]:,.0f} times in ResNet-110
  and {through["plain", 110]:.1e} in plain-110, where each block multiplies instead of adds.
- **Training** on {data_name}, {EPOCHS} epochs, {len(SEEDS)} seeds; the last epoch's training error,
  median (range): {"; ".join(f"{n} {spread(final[n])}" for n in TRAINED)}. Test error:
  {"; ".join(f"{n} {spread(final_test[n])}" for n in TRAINED)}.
  - **Degradation.** {degradation()}
  - **Skip connections at 56 layers:** {compare(final, "ResNet-56", "plain-56", "training error")}.
    The two have the same layers and parameters and saw the same batches from the same initial
    weights; only the additions differ.
  - **The deeper ResNet.** {deeper_resnet()}
""",
    f"""
- **초기화 시점의 기울기.** 첫 층의 기울기는 중앙값 층의 기울기에 비해 plain-110에서 {plain_110:,.0f}배,
  ResNet-110에서 {res_110:.0f}배, 사전 활성화 ResNet-110에서 {pre_110:.0f}배입니다.
  {
        "이 실행에서는 플레인 네트워크의 기울기가 실제로 소실되며, BN 네트워크에 대한 논문의 주장과 어긋납니다."
        if any_vanish
        else "배치 정규화가 있으면 논문의 말대로 플레인 네트워크의 기울기는 소실되지 **않습니다**. 강의 노트의 "
        "'Gradient Vanishing'(기울기 소실)은 BN이 없는 네트워크를 두고 하는 말입니다."
    }
  스킵 연결이 없으면 기울기는 입력 쪽으로 갈수록 오히려 *커지고*, 깊이에 따라 기하급수적으로 커집니다
  (plain-110에서는 가장 큰 층 기울기와 가장 작은 층 기울기가 {spread_grad["plain", 110]:.1e}배 차이 나고,
  ResNet-110에서는 {spread_grad["ResNet", 110]:.0f}배, 사전 활성화 ResNet-110에서는
  {spread_grad["pre-activation", 110]:.0f}배입니다). 이는 깊은 플레인 네트워크에서 배치 정규화가 초기화
  시점에 일으키는 기울기 폭발(exploding gradient)이며(Yang et al. 2019, arXiv:1902.08129), 신호가 사라진
  것이 아니라 조건이 나쁜(ill-conditioned) 출발점입니다.
- **항등 경로.** 세 깊이에서 모양을 유지하는 블록 {blocks_checked}개 가운데
  {identity_path_ko()}.
  원래 ResNet에서는
  블록 {shrinks["ResNet"]}개가 받은 것보다 적은 기울기를 돌려보내는데, 덧셈 뒤의 ReLU가 항등 경로를 끊기
  때문입니다. 그래도 사전 활성화 네트워크의 기울기는 입력 쪽으로 갈수록 커져서, 110층 네트워크의 블록
  {len(stream_grad["ResNet", 110]) - 1}개를 지나는 동안 {through["pre-activation", 110]:,.0f}배가 됩니다(블록을
  지날 때마다 잔차 항이 더해져 쌓이기 때문입니다). ResNet-110에서는 {through["ResNet", 110]:,.0f}배,
  각 블록이 더하는 대신 곱하는 plain-110에서는 {through["plain", 110]:.1e}배입니다.
- **훈련**: {data_name_ko}, 에포크 {EPOCHS}번, 시드 {len(SEEDS)}개. 마지막 에포크의 훈련 오차는 중앙값(범위)으로
  {"; ".join(f"{n} {spread(final[n])}" for n in TRAINED)}입니다. 시험 오차는
  {"; ".join(f"{n} {spread(final_test[n])}" for n in TRAINED)}입니다.
  - **성능 저하.** {degradation_ko()}
  - **56층에서의 스킵 연결:** {compare_ko(final, "ResNet-56", "plain-56", "훈련 오차")}.
    두 네트워크는 층과 매개변수(parameter)가 같고, 같은 초기 가중치에서 출발해 같은 배치를 보았습니다.
    다른 것은 덧셈뿐입니다.
  - **더 깊은 ResNet.** {deeper_resnet_ko()}
""",
)
