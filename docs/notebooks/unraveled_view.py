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
# noticed, while a plain network (VGG) collapsed. Here the same experiment runs
# at build time, on the CPU, at a much smaller scale: the paper's ResNet-20
# for CIFAR-10 (9 blocks) and its plain twin (the same layers without the
# additions), each trained to a good accuracy on the offline `digits` data set
# with three seeds.
#
# *Deleting* block $i$ means replacing it by its shortcut: the identity, or,
# where the block halves the resolution and doubles the channels, the
# parameter-free `PadShortcut` (subsample and zero-pad). For the plain twin the
# same replacement is made, so both networks lose exactly the same layers.
# Nothing is retrained after a deletion, and batch normalisation keeps the
# statistics it learnt with the block in place, as in Veit et al.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
from _common import digits_loaders, plot_style, seed_everything, train_on_digits
from IPython.display import Markdown
from torch import nn

from refimpl.resnet import BasicBlock, CifarResNet, PlainBlock
from refimpl.tools.train import evaluate

plot_style()

# %% [markdown]
# ## Training
#
# The recipe of the [skip connections page](../skip_connections/) (one-cycle
# learning rate with warm-up, peak 0.05, batches of 32), on the 8x8 digits, for
# long enough that both networks classify the test images well.

# %%
KINDS = {"ResNet-20": BasicBlock, "plain-20": PlainBlock}
EPOCHS, SEEDS, LR, SIZE = 4, (0, 1, 2), 0.05, 8
trained = {}
for kind, block in KINDS.items():
    for seed in SEEDS:
        seed_everything(seed)
        trained[kind, seed] = CifarResNet(20, block=block)
        train_on_digits(trained[kind, seed], EPOCHS, LR, 32, seed, size=SIZE)

# %% [markdown]
# ## One block at a time
#
# The nine blocks are `layer1.0` ... `layer3.2`; `layer2.0` and `layer3.0`
# change the shape. Each deletion starts again from the trained network.

# %%
_, test_loader = digits_loaders(batch_size=360, size=SIZE)


def blocks(model: CifarResNet) -> list[tuple[str, BasicBlock]]:
    return [(f"{name}.{i}", b) for name in ("layer1", "layer2", "layer3") for i, b in enumerate(getattr(model, name))]


def without_block(model: CifarResNet, index: int) -> CifarResNet:
    """A copy of ``model`` whose ``index``-th block is replaced by its shortcut."""
    pruned = copy.deepcopy(model)
    name, block = blocks(pruned)[index]
    stage, i = name.split(".")
    getattr(pruned, stage)[int(i)] = block.downsample if block.downsample is not None else nn.Identity()
    return pruned


def accuracy(model: nn.Module) -> float:
    return evaluate(model, test_loader, len(test_loader))[1]


names = [name for name, _ in blocks(trained["ResNet-20", 0])]
reshaping = np.array([b.downsample is not None for _, b in blocks(trained["ResNet-20", 0])])
full = {kind: np.array([accuracy(trained[kind, s]) for s in SEEDS]) for kind in KINDS}  # (seeds,)
deleted = {  # (seeds, blocks)
    kind: np.array([[accuracy(without_block(trained[kind, s], i)) for i in range(len(names))] for s in SEEDS])
    for kind in KINDS
}

# %%
fig, ax = plt.subplots(figsize=(6, 4.4))
x = np.arange(len(names))
for (kind, acc), color, shift in zip(deleted.items(), ("tab:blue", "tab:orange"), (-0.12, 0.12), strict=True):
    median = 100 * np.median(acc, 0)
    error = [median - 100 * acc.min(0), 100 * acc.max(0) - median]
    ax.errorbar(x + shift, median, yerr=error, fmt="o", color=color, capsize=3, label=f"{kind}, one block deleted")
    ax.axhline(100 * np.median(full[kind]), color=color, ls="--", lw=1, label=f"{kind}, all blocks")
ax.axhline(10, color="gray", ls=":", lw=1, label="chance")
ax.set_xticks(x, [n.replace("layer", "") for n in names])
ax.set_xlabel("deleted block (stage.index; 2.0 and 3.0 subsample)")
ax.set_ylabel("test accuracy (%)")
ax.set_ylim(0, 100)
ax.set_title("Deleting one block of a trained network")
fig.legend(loc="lower center", ncol=2, fontsize=9)
fig.tight_layout(rect=(0, 0.2, 1, 1))
plt.show()

# %% [markdown]
# Points are the median of the three seeds, bars their range; 360 test images.
#
# ## What this run shows

# %% tags=["remove_input"]
res, plain = "ResNet-20", "plain-20"
drop = {kind: full[kind][:, None] - deleted[kind] for kind in KINDS}  # (seeds, blocks), in accuracy
identity_drop = {kind: 100 * np.median(drop[kind][:, ~reshaping]) for kind in KINDS}  # points
reshape_drop = {kind: 100 * np.median(drop[kind][:, reshaping]) for kind in KINDS}
worst = {kind: names[int(np.median(drop[kind], 0).argmax())] for kind in KINDS}
robust = identity_drop[res] < identity_drop[plain]


def verdict() -> str:
    if identity_drop[res] <= 5 and robust:
        return (
            "So, as Veit et al. report, deleting a block barely hurts the trained ResNet while it breaks the plain "
            "network: in a ResNet every block adds to a sum that the other paths still carry, in a plain network "
            "every path runs through every block."
        )
    if robust:
        return (
            "So the ResNet is the more robust of the two, as Veit et al. report, but a deletion does not *barely* "
            "hurt it here. Two differences from their setting may explain it: with three blocks a stage, where "
            "their ResNet-110 has eighteen, each block is a large share of its stage's paths; and their network "
            "trained far longer than this one."
        )
    return "Unlike in Veit et al., the ResNet is not the more robust of the two in this run."


def subsampling() -> str:
    if reshape_drop[res] > identity_drop[res]:
        return "in this run too they cost ResNet-20 more than the others (medians above)"
    return "in this run they cost ResNet-20 no more than the others (medians above)"


Markdown(
    f"""
After {EPOCHS} epochs (seeds {", ".join(map(str, SEEDS))}) ResNet-20 classifies
{full[res].min():.1%} to {full[res].max():.1%} of the test images correctly and plain-20
{full[plain].min():.1%} to {full[plain].max():.1%}.

- **Blocks whose shortcut is the identity** ({int((~reshaping).sum())} of {len(names)}): deleting one costs ResNet-20 a median of
  {identity_drop[res]:.1f} points of accuracy and plain-20 {identity_drop[plain]:.1f} points
  (medians over the blocks and the seeds).
- **The two blocks that subsample**, where the shortcut is not the identity: {reshape_drop[res]:.1f}
  points for ResNet-20, {reshape_drop[plain]:.1f} for plain-20.
- The costliest deletion (median over the seeds) is {worst[res]} for ResNet-20 and {worst[plain]} for
  plain-20; {int((deleted[plain] < 0.2).sum())} of the {deleted[plain].size} plain-20 deletions
  leave it below 20% accuracy, against {int((deleted[res] < 0.2).sum())} of {deleted[res].size} for
  the ResNet.

{verdict()} Veit et al. also find the subsampling blocks the most harmful to delete, since there
the shortcut is not the identity; {subsampling()}.
"""
)
