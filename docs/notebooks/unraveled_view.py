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
# # The unraveled view: deleting blocks
#
# Veit, Wilber and Belongie ("Residual Networks Behave Like Ensembles of
# Relatively Shallow Networks", NeurIPS 2016,
# [arXiv:1605.06431](https://arxiv.org/abs/1605.06431)) deleted single blocks
# from trained networks: their ResNet-110 on CIFAR-10 (54 blocks) barely
# noticed the loss of any one of them, except a few of the blocks that
# subsample, while deleting any layer of a plain network (a VGG of 15 layers)
# left it at chance. Unrolled, a ResNet of $n$ blocks is $2^n$ paths of
# different lengths, and a deletion removes only the half of them that pass
# through the block; in a plain network every path passes through every layer.
#
# The same experiment here: ResNet-110 (54 blocks) and, for scale, ResNet-20
# (9 blocks), each against plain-20 (the plain twin of ResNet-20: the same
# layers without the additions), three seeds each, trained until they stop
# improving on the offline `digits` data set at its native 8x8 pixels (see
# [Why skip connections](../skip_connections/) for the data set and the
# recipe). The plain twin of ResNet-110 is left out: the plain networks stop
# training well long before 110 layers (plain-56 already ends far above
# plain-20's error on that page).
#
# *Deleting* block $i$ means replacing it by its shortcut: the identity, or,
# where the block halves the resolution and doubles the channels, the
# parameter-free `PadShortcut` (subsample and zero-pad). For the plain twin the
# same replacement is made, so both networks lose exactly the same layers.
# Nothing is retrained after a deletion, and batch normalisation keeps the
# statistics it learnt with the block in place, as in Veit et al.

# %% tags=["parameters"]
SCALE = "full"  # "smoke": one epoch of two batches, one seed: how the test suite checks that the page runs
EPOCHS = 30  # passes over the training images

# %%

import matplotlib.pyplot as plt
import numpy as np
from _common import digits_loaders, plot_style, say, seed_everything, show, train_on_digits
from torch import nn

from refimpl.resnet import BasicBlock, CifarResNet, PadShortcut, PlainBlock, resnet_cifar
from refimpl.tools.train import evaluate

plot_style()

# %% [markdown]
# ## Training

# %%
SEEDS, MAX_STEPS = (0, 1, 2), None
if SCALE == "smoke":
    EPOCHS, SEEDS, MAX_STEPS = 1, (0,), 2
NETWORKS = {"ResNet-110": (110, BasicBlock), "ResNet-20": (20, BasicBlock), "plain-20": (20, PlainBlock)}
trained = {}
for name, (depth, block) in NETWORKS.items():
    for seed in SEEDS:
        seed_everything(seed)
        trained[name, seed] = resnet_cifar(depth=depth, block=block)
        train_on_digits(trained[name, seed], EPOCHS, 0.1, 64, seed, size=8, label_smoothing=0, max_steps=MAX_STEPS)

# %% [markdown]
# ## One block at a time
#
# The blocks are `layer1.0` ... `layer3.(n-1)`; the first block of the second
# and third stage (`layer2.0`, `layer3.0`) changes the shape. Each deletion
# starts again from the trained network, and is scored on all 360 test images.

# %%
_, test_loader = digits_loaders(batch_size=360, size=8)


def blocks(model: CifarResNet) -> list[tuple[str, nn.Module]]:
    return [(f"{name}.{i}", b) for name in ("layer1", "layer2", "layer3") for i, b in enumerate(getattr(model, name))]


def reshapes(block: nn.Module) -> bool:
    """Whether the block changes the resolution (the first of layer2 and layer3)."""
    return block.conv1.stride != (1, 1)


def left_behind(block: nn.Module) -> nn.Module:
    """What deleting the block leaves: its shortcut. A plain block has none, so where it reshapes it leaves the
    parameter-free option A (subsample, pad with zeros), the least a deletion can leave and still fit."""
    if block.downsample is not None:
        return block.downsample
    if reshapes(block):
        return PadShortcut(block.conv1.in_channels, block.conv2.out_channels, block.conv1.stride[0])
    return nn.Identity()


def accuracy_without(model: CifarResNet, index: int | None = None) -> float:
    """Test accuracy of ``model`` with its ``index``-th block replaced by its shortcut (``None``: intact).

    The block is swapped out in place and put back afterwards, so nothing is copied.
    """
    if index is None:
        return evaluate(model, test_loader, len(test_loader))[1]
    name, block = blocks(model)[index]
    stage, i = name.split(".")
    layer = getattr(model, stage)
    layer[int(i)] = left_behind(block)
    try:
        return evaluate(model, test_loader, len(test_loader))[1]
    finally:
        layer[int(i)] = block


names = {n: [b for b, _ in blocks(trained[n, SEEDS[0]])] for n in NETWORKS}
reshaping = {n: np.array([reshapes(b) for _, b in blocks(trained[n, SEEDS[0]])]) for n in NETWORKS}
full = {n: np.array([accuracy_without(trained[n, s]) for s in SEEDS]) for n in NETWORKS}  # (seeds,)
deleted = {  # (seeds, blocks)
    n: np.array([[accuracy_without(trained[n, s], i) for i in range(len(names[n]))] for s in SEEDS]) for n in NETWORKS
}
drop = {n: 100 * (full[n][:, None] - deleted[n]) for n in NETWORKS}  # (seeds, blocks), points of accuracy

# %%
COLORS = {"ResNet-110": "tab:purple", "ResNet-20": "tab:blue", "plain-20": "tab:orange"}
fig, (ax_110, ax_20) = plt.subplots(2, 1, figsize=(6, 7), gridspec_kw={"height_ratios": (1, 1)})
for ax, group in ((ax_110, ("ResNet-110",)), (ax_20, ("ResNet-20", "plain-20"))):
    for name, shift in zip(group, (-0.12, 0.12) if len(group) == 2 else (0,), strict=True):
        acc = 100 * deleted[name]
        x = np.arange(acc.shape[1])
        median = np.median(acc, 0)
        error = [median - acc.min(0), acc.max(0) - median]
        ax.errorbar(x + shift, median, yerr=error, fmt="o", ms=3.5, color=COLORS[name], capsize=2, label=name)
        ax.axhline(100 * np.median(full[name]), color=COLORS[name], ls="--", lw=1)
        for position in np.flatnonzero(reshaping[name]):
            ax.axvline(position, color="gray", lw=0.8, alpha=0.5)
    ax.axhline(10, color="gray", ls=":", lw=1, label="chance")
    ax.set_ylim(0, 102)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(loc="lower right", ncol=3, fontsize=9)
n110 = len(names["ResNet-110"])
ax_110.set_title(f"ResNet-110: {n110} blocks, one deleted at a time")
ax_110.set_xlabel("deleted block (grey lines: the blocks that subsample)")
ax_20.set_xticks(range(len(names["ResNet-20"])), [n.replace("layer", "") for n in names["ResNet-20"]])
ax_20.set_title("ResNet-20 and its plain twin: 9 blocks")
ax_20.set_xlabel("deleted block (stage.index; 2.0 and 3.0 subsample)")
fig.tight_layout()


def identity_median(name: str) -> float:
    """The median drop, over the seeds and the blocks whose shortcut is the identity, in points."""
    return float(np.median(drop[name][:, ~reshaping[name]]))


show(
    fig,
    "Test accuracy after deleting one block, median of the seeds with their range as bars; dashed lines: "
    "the intact networks. Median loss over the identity blocks: "
    + ", ".join(f"{n} {identity_median(n):.1f} points" for n in NETWORKS)
    + ".",
    "블록 하나를 지운 뒤의 시험 정확도(세로축, %): 점은 시드들의 중앙값, 막대는 그 범위이고 점선은 온전한 "
    "네트워크의 정확도입니다. 항등 블록(숏컷이 항등 매핑인 블록)에서 잃는 정확도의 중앙값: "
    + ", ".join(f"{n} {identity_median(n):.1f}%p" for n in NETWORKS)
    + ".",
)

# %% [markdown]
# Points are the median of the seeds, bars their range; dashed lines the
# intact networks' accuracy.
#
# ## What this run shows

# %% tags=["remove_input"]
BARELY = 5  # points of accuracy: a deletion that costs less "barely hurts"


def summary(name: str) -> str:
    med = np.median(drop[name], 0)  # (blocks,): median over the seeds
    identity, reshape = med[~reshaping[name]], med[reshaping[name]]
    worst = int(med.argmax())
    return (
        f"**{name}** (intact: {np.median(full[name]):.1%} median, {full[name].min():.1%} to {full[name].max():.1%}): "
        f"{int((identity < BARELY).sum())} of its {identity.size} identity blocks cost less than {BARELY} points "
        f"when deleted (median over the seeds; median over the blocks {np.median(identity):.1f} points); "
        f"the {reshape.size} subsampling blocks cost {' and '.join(f'{v:.1f}' for v in reshape)} points; "
        f"the costliest deletion is {names[name][worst]} ({med[worst]:.1f} points)."
    )


def summary_ko(name: str) -> str:
    med = np.median(drop[name], 0)  # (blocks,): median over the seeds
    identity, reshape = med[~reshaping[name]], med[reshaping[name]]
    worst = int(med.argmax())
    return (
        f"**{name}**(온전한 상태: 중앙값 {np.median(full[name]):.1%}, 범위 {full[name].min():.1%}–"
        f"{full[name].max():.1%}): 항등 블록 {identity.size}개 중 {int((identity < BARELY).sum())}개는 지워도 잃는 "
        f"정확도가 {BARELY}%p 미만입니다(시드에 대한 중앙값, 블록에 대한 중앙값은 {np.median(identity):.1f}%p). "
        f"다운샘플링하는 블록 {reshape.size}개는 각각 {', '.join(f'{v:.1f}%p' for v in reshape)}를 잃고, 가장 "
        f"손실이 큰 삭제는 {names[name][worst]}({med[worst]:.1f}%p)입니다."
    )


def verdict() -> str:
    med110 = np.median(drop["ResNet-110"], 0)
    identity110 = med110[~reshaping["ResNet-110"]]
    barely = (identity110 < BARELY).mean()
    plain_breaks = np.median(drop["plain-20"][:, ~reshaping["plain-20"]]) > 4 * max(identity_median("ResNet-110"), 1)
    if barely >= 0.9 and plain_breaks:
        text = (
            f"So, as Veit et al. report, deleting one block barely hurts the trained ResNet-110 ({barely:.0%} of its "
            "identity blocks cost less than "
            f"{BARELY} points), while the same deletion costs the plain network far more: in a ResNet every block "
            "adds to a sum that the other paths still carry, in a plain network every path runs through every block."
        )
    elif plain_breaks:
        text = (
            f"The ResNet-110 is far more robust than the plain network, as Veit et al. report, but only {barely:.0%} "
            f"of its identity blocks cost less than {BARELY} points here."
        )
    else:
        text = "Unlike in Veit et al., the plain network is not clearly less robust than the ResNets in this run."
    if identity_median("ResNet-20") > identity_median("ResNet-110"):
        text += (
            f" ResNet-20 loses more per deletion than ResNet-110 ({identity_median('ResNet-20'):.1f} against "
            f"{identity_median('ResNet-110'):.1f} points, medians): with three blocks a stage instead of eighteen, "
            "each block carries a larger share of its stage's paths."
        )
    return text


def verdict_ko() -> str:
    med110 = np.median(drop["ResNet-110"], 0)
    identity110 = med110[~reshaping["ResNet-110"]]
    barely = (identity110 < BARELY).mean()
    plain_breaks = np.median(drop["plain-20"][:, ~reshaping["plain-20"]]) > 4 * max(identity_median("ResNet-110"), 1)
    if barely >= 0.9 and plain_breaks:
        text = (
            f"따라서 Veit et al.의 보고대로, 훈련된 ResNet-110은 블록 하나를 지워도 거의 타격을 받지 않지만(항등 "
            f"블록의 {barely:.0%}가 {BARELY}%p 미만을 잃습니다), 플레인 네트워크는 같은 삭제로 훨씬 많이 잃습니다. "
            "ResNet에서는 각 블록이 합에 더해질 뿐이고 그 합은 다른 경로들이 계속 실어 나르지만, 플레인 "
            "네트워크에서는 모든 경로가 모든 블록을 지나기 때문입니다."
        )
    elif plain_breaks:
        text = (
            "Veit et al.의 보고대로 ResNet-110은 플레인 네트워크보다 훨씬 견고하지만, 이 실행에서 잃는 정확도가 "
            f"{BARELY}%p 미만인 항등 블록은 {barely:.0%}뿐입니다."
        )
    else:
        text = "Veit et al.의 결과와 달리, 이 실행에서는 플레인 네트워크가 ResNet보다 뚜렷하게 덜 견고하지 않습니다."
    if identity_median("ResNet-20") > identity_median("ResNet-110"):
        text += (
            f" ResNet-20은 블록 하나를 지울 때 ResNet-110보다 더 많이 잃습니다(중앙값 "
            f"{identity_median('ResNet-20'):.1f}%p 대 {identity_median('ResNet-110'):.1f}%p). 단계마다 블록이 열여덟 "
            "개가 아니라 세 개뿐이라, 블록 하나가 그 단계의 경로 가운데 더 큰 몫을 맡기 때문입니다."
        )
    return text


say(
    f"""
Trained for {EPOCHS} epochs, seeds {", ".join(map(str, SEEDS))}; a drop is the intact network's accuracy
minus the accuracy after the deletion, in points of accuracy.

- {summary("ResNet-110")}
- {summary("ResNet-20")}
- {summary("plain-20")}

{verdict()}
""",
    f"""
{EPOCHS} 에포크(epoch) 동안 훈련했고, 시드는 {", ".join(map(str, SEEDS))}입니다. 잃는 정확도(하락폭)는 온전한 네트워크의
정확도에서 블록을 지운 뒤의 정확도를 뺀 값이며, 정확도의 %p(퍼센트포인트)로 나타냅니다. 항등 블록은 숏컷이 항등
매핑인 블록, 곧 다운샘플링하지 않는 블록입니다.

- {summary_ko("ResNet-110")}
- {summary_ko("ResNet-20")}
- {summary_ko("plain-20")}

{verdict_ko()}
""",
)
