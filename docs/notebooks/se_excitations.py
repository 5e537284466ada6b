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
# # SE: what the gates do
#
# A squeeze-and-excitation block multiplies each channel by a gate
# $s_c \in (0, 1)$ computed from the whole image (Hu et al.,
# [arXiv:1709.01507](https://arxiv.org/abs/1709.01507)). The paper's section
# on the role of excitation finds that in early layers the gates are much the
# same whatever the class (those features are shared), while in later layers
# they depend on the class. This page trains a small SE-ResNet on the offline
# `digits` data set, with three seeds, records its gates on the test images, and
# measures how class-specific they are at each depth. It ends with what SE costs
# for each reduction ratio $r$.

# %% tags=["parameters"]
SCALE = "full"  # "smoke": one epoch of two batches, one seed: how the test suite checks that the page runs
EPOCHS = 30  # passes over the training images

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import digits_test_images, plot_style, say, seed_everything, show, train_on_digits

from refimpl.senet import record_gates, se_resnet_cifar
from refimpl.tools.inspection import model_cost

plot_style()

# %% [markdown]
# ## A small SE-ResNet
#
# The paper's CIFAR ResNet-20 (three stages of three basic blocks, 16, 32 and
# 64 channels) with an SE block on every residual branch, reduction ratio
# r = 4 (16 would leave the first stage's gates a single hidden unit), trained
# on the digits at their native 8x8 pixels until it stops improving, three seeds.

# %%
SEEDS, MAX_STEPS = (0, 1, 2), None
if SCALE == "smoke":
    EPOCHS, SEEDS, MAX_STEPS = 1, (0,), 2
images, labels = digits_test_images(size=8)
models, accuracy = {}, {}
for seed in SEEDS:
    seed_everything(seed)
    models[seed] = se_resnet_cifar(depth=20, reduction=4)
    history = train_on_digits(models[seed], EPOCHS, 0.1, 64, seed, size=8, max_steps=MAX_STEPS)
    accuracy[seed] = history.test_accuracy[-1]
print("test accuracy: " + ", ".join(f"seed {s}: {a:.1%}" for s, a in accuracy.items()))

# %% [markdown]
# `record_gates` runs the model once in eval mode and returns every SE block's
# gates, shape (N, C, 1, 1). Average them over the test images of each class:
# one row per digit, one column per channel (seed 0).

# %%
gates = {seed: {name: g.flatten(1) for name, g in record_gates(m, images).items()} for seed, m in models.items()}
classes = labels.unique()
first = gates[SEEDS[0]]  # name -> (N, C)
per_class = {name: torch.stack([g[labels == c].mean(0) for c in classes]) for name, g in first.items()}  # (10, C)
early, late = next(iter(first)), list(first)[-1]
print(f"{len(first)} SE blocks: {', '.join(f'{n} ({g.shape[1]} channels)' for n, g in first.items())}")

# %%
fig, axes = plt.subplots(2, 1, figsize=(6, 6.2))
for ax, name in zip(axes, (early, late), strict=True):
    image = ax.imshow(per_class[name].cpu().numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.grid(False)
    ax.set_yticks(range(len(classes)), [str(c) for c in classes.tolist()])
    ax.set_ylabel("digit")
    ax.set_xlabel("channel")
    ax.set_title(f"{'first' if name == early else 'last'} SE block, {name}")
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, label="mean gate $s_c$")
fig.suptitle("Mean excitation per class and channel (seed 0)")
fig.tight_layout()
show(
    fig,
    f"Two heat maps of the mean SE gate per digit (rows) and channel (columns), for the first SE block ({early}, "
    f"{per_class[early].shape[1]} channels) and the last ({late}, {per_class[late].shape[1]} channels), seed 0.",
    f"숫자(행, digit)와 채널(열, channel)마다 SE 게이트의 평균(mean gate)을 색으로 나타낸 히트맵 두 개: 첫 SE "
    f"블록({early}, 채널 {per_class[early].shape[1]}개)과 마지막 SE 블록({late}, 채널 "
    f"{per_class[late].shape[1]}개), 시드 0.",
)

# %% [markdown]
# In a column that is one colour from top to bottom, the channel gets the same
# gate whatever the digit; a column that changes colour gates the channel by
# class.
#
# How class-specific is a block's excitation? Two numbers per block: the
# standard deviation across the ten classes of the per-class mean gate,
# averaged over channels; and the share of each channel's gate variance over
# all test images that the class explains (between-class variance over total
# variance, 0: the class does not matter, 1: the class decides the gate),
# averaged over channels. The second does not depend on how spread out a
# block's gates are overall.


# %%
def specificity(g: torch.Tensor) -> tuple[float, float]:
    """(std across classes of the class means, share of variance the class explains), both channel-averaged."""
    means = torch.stack([g[labels == c].mean(0) for c in classes])  # (10, C)
    counts = torch.stack([(labels == c).sum() for c in classes]).float()[:, None]
    between = (counts * (means - g.mean(0)) ** 2).sum(0) / len(g)
    return means.std(0).mean().item(), (between / g.var(0, unbiased=False).clamp_min(1e-12)).mean().item()


blocks = list(first)
stats = np.array([[specificity(gates[seed][name]) for name in blocks] for seed in SEEDS])  # (seeds, blocks, 2)
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(6, 5.2), sharex=True)
short = [name.removesuffix(".se").replace("layer", "") for name in blocks]  # "layer2.1.se" -> "2.1"
for ax, k, color, label in ((ax1, 0, "tab:blue", "std across classes"), (ax2, 1, "tab:orange", "share (0 to 1)")):
    median = np.median(stats[:, :, k], 0)
    ax.fill_between(short, stats[:, :, k].min(0), stats[:, :, k].max(0), color=color, alpha=0.25, lw=0)
    ax.plot(short, median, "o-", color=color)
    ax.set_ylabel(label)
ax1.set_title("Spread of the per-class mean gates")
ax2.set_title("Share of the gates' variance the class explains")
ax2.set_ylim(0, 1)
ax2.set_xlabel("SE block (stage.index), input to output")
fig.tight_layout()
share = stats[:, :, 1]  # (seeds, blocks)
show(
    fig,
    "Two line plots over the nine SE blocks, input to output: the spread of the per-class mean gates, and the "
    f"share of the gates' variance that the class explains (median {np.median(share[:, 0]):.0%} at the first "
    f"block, {np.median(share[:, -1]):.0%} at the last); lines are the median of the seeds, bands their range.",
    "입력에서 출력 쪽으로 늘어선 SE 블록 아홉 개에 대한 선 그래프 두 개: 위는 클래스별 평균 게이트의 퍼짐(std "
    "across classes), 아래는 클래스가 설명하는 게이트 분산의 비율(share; 중앙값은 첫 블록에서 "
    f"{np.median(share[:, 0]):.0%}, 마지막 블록에서 {np.median(share[:, -1]):.0%}). 선은 시드들의 중앙값, 띠는 "
    "그 범위입니다.",
)

# %% tags=["remove_input"]
SHARED = 0.2  # below this share of variance explained by the class, a block's gates are called class-agnostic
grows = bool((share[:, -1] > share[:, 0]).all())
most = blocks[int(np.median(share, 0).argmax())]


def rng(values: np.ndarray, fmt: str = ".0%") -> str:
    return f"{np.median(values):{fmt}} ({values.min():{fmt}} to {values.max():{fmt}})"


def rng_ko(values: np.ndarray, fmt: str = ".0%") -> str:
    return f"{np.median(values):{fmt}}({values.min():{fmt}}–{values.max():{fmt}})"


def verdict() -> str:
    if grows and (share[:, 0] < SHARED).all():
        return (
            "So, as the paper reports, the first block's gates are nearly the same whatever the class (the class "
            f"explains less than {SHARED:.0%} of their variance in every seed) and later gates depend on the class."
        )
    if grows:
        return (
            "The gates grow more class-specific with depth in every seed, as in the paper; but even the first "
            f"block's are not class-agnostic here (the class explains {SHARED:.0%} or more of their variance in "
            + ("every seed" if (share[:, 0] >= SHARED).all() else "at least one seed")
            + "). A likely reason: on 8x8 digits the first stage already sees much of a digit's shape, so its "
            "features are less generic than the edges and textures of the paper's early ImageNet layers."
        )
    return "Unlike in the paper, the last block's gates are not more class-specific than the first's in every seed."


def verdict_ko() -> str:
    if grows and (share[:, 0] < SHARED).all():
        return (
            "따라서 논문의 보고대로, 첫 블록의 게이트는 클래스와 상관없이 거의 같고(모든 시드에서 클래스가 설명하는 "
            f"분산이 {SHARED:.0%} 미만입니다) 뒤쪽 게이트는 클래스에 따라 달라집니다."
        )
    if grows:
        return (
            "모든 시드에서 게이트는 깊어질수록 클래스에 더 특화되며, 이는 논문과 같습니다. 하지만 이 실행에서는 첫 "
            "블록의 게이트조차 클래스와 무관하지 않습니다("
            + ("모든 시드에서" if (share[:, 0] >= SHARED).all() else "적어도 한 시드에서")
            + f" 클래스가 그 분산의 {SHARED:.0%} 이상을 설명합니다). 그럴 법한 이유는 8x8 숫자 이미지에서는 첫 "
            "단계가 이미 숫자 모양의 상당 부분을 보기 때문에, 그 특징이 논문에서 ImageNet을 보는 앞쪽 층의 에지나 "
            "텍스처보다 덜 일반적이라는 것입니다."
        )
    return (
        "논문과 달리, 모든 시드에서 마지막 블록의 게이트가 첫 블록의 게이트보다 클래스에 더 특화되어 있지는 않습니다."
    )


say(
    f"**What this run shows** ({EPOCHS} epochs, {len(SEEDS)} seeds; test accuracy {rng(np.array(list(accuracy.values())), '.1%')}; "
    "median over the seeds, their range in brackets). The share of the gates' variance that the class explains is "
    f"{rng(share[:, 0])} at the first SE block ({early}) and {rng(share[:, -1])} at the last ({late}); the most "
    f"class-specific block is {most}. {verdict()} Two differences from the paper's setting: its network is "
    "SE-ResNet-50 on ImageNet's 1,000 classes, where it also finds the very last blocks (SE_5_2, SE_5_3) saturated "
    "and nearly class-independent; this is a 20-layer network on ten digit classes, so its last block is only its ninth.",
    f"**이 실행이 보여 주는 것**: {EPOCHS} 에포크(epoch), 시드 {len(SEEDS)}개로 훈련했고 시험 정확도는 "
    f"{rng_ko(np.array(list(accuracy.values())), '.1%')}입니다(시드에 대한 중앙값이며 괄호 안은 그 범위). 클래스가 "
    f"설명하는 게이트 분산의 비율은 첫 SE 블록({early})에서 {rng_ko(share[:, 0])}, 마지막 블록({late})에서 "
    f"{rng_ko(share[:, -1])}이고, 클래스에 가장 특화된 블록은 {most}입니다. {verdict_ko()} 논문의 설정과는 두 "
    "가지가 다릅니다. 논문의 네트워크는 ImageNet의 1,000개 클래스에 대한 SE-ResNet-50이고, 논문은 맨 마지막 "
    "블록들(SE_5_2, SE_5_3)이 포화되어 클래스와 거의 무관하다는 것도 발견했습니다. 이 실행의 네트워크는 숫자 "
    "클래스 열 개에 대한 20층 네트워크이므로, 마지막 블록이라 해도 아홉 번째 블록일 뿐입니다.",
)

# %% [markdown]
# ## What SE costs, by reduction ratio
#
# SE-ResNet-50 for one 224x224 image, against ResNet-50, counted by `refimpl`
# on the meta device while the site is built. The parameters come mostly from
# the last stage's SE blocks, $2C^2/r$ with C = 2,048; the MACs hardly move
# because the gates act on one vector per image, not on every pixel.

# %% tags=["remove_input"]
base_params, base_macs = model_cost("resnet50")
cost = {r: model_cost("se_resnet50", reduction=r) for r in (2, 4, 8, 16, 32)}  # r -> (parameters, MACs)
extra = {r: (100 * (p / base_params - 1), 100 * (m / base_macs - 1)) for r, (p, m) in cost.items()}  # in %
rows = [f"| ResNet-50 (no SE) | {base_params:,} | {base_macs:,} | | |"]
rows += [f"| {r} | {p:,} | {m:,} | {extra[r][0]:+.1f}% | {extra[r][1]:+.2f}% |" for r, (p, m) in cost.items()]
rows_ko = [f"| ResNet-50 (SE 없음) | {base_params:,} | {base_macs:,} | | |", *rows[1:]]
say(
    "| r | parameters | MACs | extra parameters | extra MACs |\n|---:|---:|---:|---:|---:|\n"
    + "\n".join(rows)
    + "\n\n*MACs = FLOPs / 2, convolutions and matrix products only (as torchvision counts them), so SE's pooling "
    "and channel scaling are left out. Each percentage is computed from the two counts in its row and the first.*",
    "| r | 매개변수 | MACs | 추가 매개변수 | 추가 MACs |\n|---:|---:|---:|---:|---:|\n"
    + "\n".join(rows_ko)
    + "\n\n*MACs = FLOPs / 2이며, (torchvision이 세는 방식대로) 합성곱(convolution)과 행렬 곱만 셉니다. 따라서 "
    "SE의 풀링과 채널 스케일링은 빠져 있습니다. 각 백분율은 그 행의 수와 첫 행의 수로 계산했습니다.*",
)

# %% tags=["remove_input"]
r_min = min(cost)
say(
    f"At the paper's r = 16, SE adds {extra[16][0]:.1f}% parameters and {extra[16][1]:.2f}% MACs (the paper, "
    "section 'model and computational complexity': about 10% more parameters and a 0.26% relative increase in "
    "GFLOPs, counting ResNet v1 and SE's pooling and scaling too). Halving r doubles the extra parameters, up to "
    f"{extra[r_min][0]:.0f}% at r = {r_min}, while the compute stays within {extra[r_min][1]:.1f}%. "
    "The reduction ratio trades parameters, not computation.",
    f"논문의 r = 16에서 SE는 매개변수를 {extra[16][0]:.1f}%, MACs를 {extra[16][1]:.2f}% 늘립니다(논문의 'model and "
    "computational complexity' 절에서는 매개변수가 약 10% 늘고 GFLOPs가 상대적으로 0.26% 늘어나는데, 이는 ResNet "
    "v1과 SE의 풀링 및 스케일링까지 센 값입니다). r을 절반으로 줄일 때마다 추가 매개변수는 두 배가 되어 "
    f"r = {r_min}에서 {extra[r_min][0]:.0f}%에 이르지만, 계산량 증가는 {extra[r_min][1]:.1f}% 이내에 머뭅니다. "
    "축소 비율로 맞바꾸는 것은 계산량이 아니라 매개변수입니다.",
)
