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
from _common import DEVICE, band, digits_loaders, plot_style, seed_everything, show, train
from IPython.display import Markdown
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
)

# %% [markdown]
# The ratio of the first convolution's gradient norm to the median over the
# network's layers says whether the gradient fades (ratio well below 1) or
# grows (well above 1) on its way back to the input:

# %% tags=["remove_input"]
ratio = {key: g[0] / np.median(g) for key, g in weight_grad.items()}
spread_grad = {key: g.max() / g.min() for key, g in weight_grad.items()}
Markdown(
    "| depth | "
    + " | ".join(f"{kind}: first layer / median" for kind in NETWORKS)
    + " |\n|---:|"
    + "---:|" * len(NETWORKS)
    + "\n"
    + "\n".join(f"| {d} | " + " | ".join(f"{ratio[k, d]:,.1f}" for k in NETWORKS) + " |" for d in DEPTHS)
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
Markdown(
    "| network | smallest gain | largest gain | blocks with gain < 1 | gradient at the first block / at the last |\n"
    "|---|---:|---:|---:|---:|\n"
    + "\n".join(
        f"| {kind}-{d} | {kept[kind, d].min():.3f} | {kept[kind, d].max():.2f} | "
        f"{int((kept[kind, d] < 1).sum())} of {len(kept[kind, d])} | {through[kind, d]:,.3g} |"
        for d in DEPTHS
        for kind in NETWORKS
    )
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


Markdown(
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
  {
        f"no pre-activation block passes back less gradient than it receives (smallest gain {pre_min:.3f})"
        if shrinks["pre-activation"] == 0
        else f"{shrinks['pre-activation']} pre-activation blocks pass back less gradient than they receive"
    },
  as $I + \\partial\\mathcal{{F}}/\\partial x$ predicts when nothing sits on the shortcut; in the
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
"""
)
