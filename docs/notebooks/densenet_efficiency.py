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
# # DenseNet: efficiency and feature reuse
#
# The DenseNet paper (Huang et al., [arXiv:1608.06993](https://arxiv.org/abs/1608.06993))
# makes two claims this page checks:
#
# 1. **Efficiency.** DenseNets reach a ResNet's ImageNet accuracy with fewer
#    parameters and fewer multiply-accumulates (the paper's figure 3).
# 2. **Feature reuse.** Every layer of a dense block reads the feature maps of
#    all earlier layers, and after training it really does put weight on
#    many of them, even on early ones (the paper's figure 5).
#
# The first part computes its numbers while the site is built: parameters and
# multiply-accumulates counted by `refimpl`, accuracy read from torchvision's
# weights metadata. The second trains a small DenseNet-BC, on the CPU.

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import plot_style, seed_everything, train_on_digits
from IPython.display import Markdown

from refimpl import get_spec, list_models
from refimpl.densenet import DenseNet
from refimpl.tools.inspection import ZooRow, zoo_rows

plot_style()

# %% [markdown]
# ## Parameters, GMACs and top-1
#
# Only torchvision's **V1** weights are compared. The DenseNets have no other
# checkpoint, and the V1 weights of both families come from recipes of the
# same kind (about 90 epochs of SGD with random crops and flips); the ResNets'
# V2 weights come from a much longer modern recipe (600 epochs, mixup, cutmix,
# label smoothing, EMA and more) and would credit the recipe, not the
# architecture.
# They are drawn as hollow markers for scale only.

# %%
# every model of the two families that torchvision publishes checkpoints for (ResNeXt-50 is in the ResNet family)
FAMILIES = {"densenet": "tab:orange", "resnet": "tab:blue"}
rows = zoo_rows(name for name in list_models() if get_spec(name).family in FAMILIES)
rows = [r for r in rows if "IMAGENET1K_V1" in r.top1]


def top1(row: ZooRow, version: str = "IMAGENET1K_V1") -> float:
    """The published top-1 (%) of one of the model's torchvision checkpoints."""
    return row.top1[version]


fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
for ax, key, xlabel in [
    (axes[0], "gmacs", "multiply-accumulates per 224x224 image (GMACs)"),
    (axes[1], "params", "parameters (millions)"),
]:
    for family, colour in FAMILIES.items():
        members = sorted((r for r in rows if r.spec.family == family), key=lambda r: r.params)
        x = [r.gmacs if key == "gmacs" else r.params / 1e6 for r in members]
        y = [top1(r) for r in members]
        size = [r.params / 4e5 for r in members]  # marker area grows with the parameter count
        name = " / ".join(dict.fromkeys(r.spec.label for r in members))  # "ResNet / ResNeXt"
        ax.scatter(x, y, s=size, color=colour, alpha=0.75, label=f"{name} (V1 weights)")
        for r, xi, yi in zip(members, x, y, strict=True):
            ax.annotate(r.spec.name, (xi, yi), textcoords="offset points", xytext=(6, -12), fontsize=8)
        v2 = [(xi, top1(r, "IMAGENET1K_V2")) for r, xi in zip(members, x, strict=True) if "IMAGENET1K_V2" in r.top1]
        if v2:
            ax.scatter(*zip(*v2, strict=True), s=30, facecolors="none", edgecolors=colour, label=f"{name} (V2 weights)")
    ax.set_xlabel(xlabel)
    ax.set_title(f"ImageNet top-1 against {'compute' if key == 'gmacs' else 'size'}")
axes[0].set_ylabel("official ImageNet-1K top-1 accuracy (%)")
axes[1].legend(loc="lower right", fontsize=8)
fig.suptitle("DenseNet vs ResNet, torchvision checkpoints (marker area: parameters)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Each DenseNet against each ResNet, matched by accuracy: how many of the
# ResNet's parameters and MACs the DenseNet needs, and what it gives up or gains
# in top-1.

# %% tags=["remove_input"]
densenets = [r for r in rows if r.spec.family == "densenet"]
resnets = [r for r in rows if r.spec.family == "resnet"]
pairs = []
for res in resnets:
    dense = min(densenets, key=lambda d: abs(top1(d) - top1(res)))  # the DenseNet closest in accuracy
    pairs.append((dense, res, top1(dense) - top1(res), dense.params / res.params, dense.macs / res.macs))
lines = [
    "| DenseNet | ResNet | top-1 difference (points) | parameters (DenseNet / ResNet) | GMACs (DenseNet / ResNet) |",
    "|---|---|---:|---:|---:|",
]
lines += [f"| {d.spec.name} | {r.spec.name} | {dt:+.2f} | {p:.2f} | {g:.2f} |" for d, r, dt, p, g in pairs]
Markdown("\n".join(lines))

# %% tags=["remove_input"]
by_name = {r.spec.name: r for r in rows}
d201, r101, r50 = by_name["densenet201"], by_name["resnet101"], by_name["resnet50"]  # the pairs the paper discusses
best = min(pairs, key=lambda p: abs(p[2]))  # the pair closest in accuracy
fewer_params, fewer_macs = sum(p[3] < 1 for p in pairs), sum(p[4] < 1 for p in pairs)
Markdown(
    f"**What the data show.** The pair closest in accuracy is {best[0].spec.name} against {best[1].spec.name}: "
    f"{best[2]:+.2f} points of top-1 with {best[3]:.0%} of the parameters and {best[4]:.0%} of the MACs. "
    f"DenseNet-201 ({d201.params / 1e6:.1f}M parameters, {d201.gmacs:.2f} GMACs) is "
    f"{top1(d201) - top1(r50):+.2f} points from ResNet-50 ({r50.params / 1e6:.1f}M, {r50.gmacs:.2f} GMACs) and "
    f"{top1(d201) - top1(r101):+.2f} points from ResNet-101 ({r101.params / 1e6:.1f}M, {r101.gmacs:.2f} GMACs). "
    f"Over all {len(pairs)} pairs the DenseNet needs fewer parameters in {fewer_params} "
    f"({min(p[3] for p in pairs):.0%} to {max(p[3] for p in pairs):.0%} of the matched ResNet's) and fewer MACs in "
    f"{fewer_macs} ({min(p[4] for p in pairs):.0%} to {max(p[4] for p in pairs):.0%}). "
    f"The paper's figure 3 puts DenseNet-201 level with ResNet-101; here it is "
    f"{abs(top1(d201) - top1(r101)):.2f} points {'behind' if top1(d201) < top1(r101) else 'ahead'}. The paper compares "
    "with ResNets trained by fb.resnet.torch, not with torchvision's checkpoints, so its pairs differ from these; "
    "its claim, a ResNet's accuracy at a fraction of the parameters, "
    + ("holds for every pair here." if fewer_params == len(pairs) else f"holds for {fewer_params} of the pairs here.")
)

# %% [markdown]
# ## Feature reuse: which earlier features does each layer read?
#
# A small DenseNet-BC in the CIFAR layout: a 16-channel stem, three dense blocks
# of four layers with growth rate k = 8, compression 0.5 in the transitions. It
# trains for a few epochs on the offline `digits` data set (1,437 training
# images, 360 test images, 8x8 pixels fed at 16x16, so the last block still
# sees a 4x4 map).

# %%
seed_everything(0)
model = DenseNet(growth_rate=8, block_config=(4, 4, 4), num_init_features=16, num_classes=10, small_input=True)
initial = copy.deepcopy(model)  # to see what training changed
history = train_on_digits(model, epochs=4, lr=0.1, seed=0, size=16)
print(f"test accuracy after each epoch: {', '.join(f'{a:.1%}' for a in history.test_accuracy)}")

# %% [markdown]
# Layer $\ell$ of a block reads the concatenation $[x_0, x_1, \dots, x_{\ell-1}]$:
# the block's input $x_0$ (the stem or the previous transition) and the $k$ new
# maps of each earlier layer. Its first convolution, the 1x1 bottleneck, has one
# column of weights per input channel, so its weights split by source. As in
# the paper's figure 5, a cell is the mean absolute weight over the source's
# channels (the L1 norm divided by the number of input maps). The extra last
# row of each block is the layer after it: the transition's 1x1 convolution, or
# for the last block the classifier. Each row is scaled by its largest cell, so
# the colours compare the sources one reader draws on.
#
# The paper's map is taken after 300 epochs, when the weights are far from
# their random start. A few epochs move them only a little, so the same
# measure is also shown for the *change* training made, $|w - w_\text{init}|$:
# which sources the short training adjusted the weights of.


# %%
def reuse_map(model: DenseNet, block: int, initial: DenseNet | None = None) -> np.ndarray:
    """Mean |weight| (or |weight - initial weight|) that each reader (row) puts on each source (column).

    Rows: the block's layers 1..L, then the layer after the block. Columns: the
    block input x_0, then layers 1..L. Cells a reader cannot see are NaN.
    """

    def readers(net: DenseNet) -> list[torch.Tensor]:
        layers = list(getattr(net.features, f"denseblock{block}").values())
        transition = getattr(net.features, f"transition{block}", None)
        after = transition.conv if transition is not None else net.classifier
        return [layer.conv1.weight.detach().flatten(1) for layer in layers] + [after.weight.detach()]

    weights = readers(model)
    if initial is not None:
        weights = [w - w0 for w, w0 in zip(weights, readers(initial), strict=True)]
    k0, k = weights[0].shape[1], weights[1].shape[1] - weights[0].shape[1]
    bounds = [0, *(k0 + k * i for i in range(len(weights)))]  # channel ranges of the sources
    heat = np.full((len(weights), len(bounds) - 1), np.nan)
    for row, w in enumerate(weights):  # w: (out, in), one column per input channel
        for col in range(len(bounds) - 1):
            if bounds[col + 1] <= w.shape[1]:
                heat[row, col] = w[:, bounds[col] : bounds[col + 1]].abs().mean().item()
    return heat


maps = {
    "mean |weight| after training (the paper's measure)": [reuse_map(model, b) for b in (1, 2, 3)],
    "mean |weight change| during training": [reuse_map(model, b, initial) for b in (1, 2, 3)],
}
fig, axes = plt.subplots(2, 3, figsize=(12, 7))
for axes_row, (measure, blocks) in zip(axes, maps.items(), strict=True):
    for b, (ax, heat) in enumerate(zip(axes_row, blocks, strict=True), start=1):
        shown = heat / np.nanmax(heat, axis=1, keepdims=True)  # each row relative to its strongest source
        image = ax.imshow(shown, cmap="viridis", vmin=0, vmax=1)
        ax.grid(False)
        n = heat.shape[1] - 1
        ax.set_xticks(range(n + 1), ["input", *map(str, range(1, n + 1))])
        ax.set_yticks(range(n + 1), [*map(str, range(1, n + 1)), "transition" if b < 3 else "classifier"])
        ax.set_xlabel("source: block input or layer s")
        ax.set_ylabel("target layer")
        ax.set_title(f"block {b}: {measure.split(' (')[0]}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046, label="relative to the row's largest cell")
fig.suptitle("Feature reuse in a small DenseNet-BC trained on digits (the paper's figure 5)")
fig.tight_layout()
plt.show()

# %% tags=["remove_input"]
final, change = maps.values()
spread = [np.nanmin(h[:-1]) / np.nanmax(h[:-1]) for h in final]  # 1: all sources weighted alike
moved = np.nanmean([np.nanmean(c[:-1] / f[:-1]) for c, f in zip(change, final, strict=True)])
# block input vs the block's own layers, within each reader that sees both (rows 2..L), then averaged
input_share = [np.mean(h[1:-1, 0] / np.nanmean(h[1:-1, 1:], axis=1)) for h in change]
transition_spread = [np.min(h[-1]) / np.max(h[-1]) for h in change[:2]]
late_vs_early = change[2][-1, -2:].mean() / change[2][-1, :2].mean()  # classifier: last two sources vs first two


def compare(ratio: float, expected_below: bool) -> str:
    if abs(ratio - 1) < 0.1:  # within 10%: too close to call after a short run
        return "shows no clear preference, unlike the paper"
    return "agrees with the paper" if (ratio < 1) == expected_below else "differs from the paper"


Markdown(
    f"**What this run shows** (test accuracy {history.test_accuracy[-1]:.1%} after {len(history.test_accuracy)} "
    f"epochs). In the paper's measure every dense layer keeps weight on all its sources: the weakest cell of a block "
    f"is {', '.join(f'{s:.0%}' for s in spread)} of the strongest in blocks 1, 2, 3. But training changed the "
    f"dense layers' weights by only {moved:.0%} of their size on average, so that map still mostly shows the random "
    f"initialisation, in which every source gets the same weight in expectation; the paper's contrasts need its long "
    f"training. The weight changes say what this short run learned. The transitions adjusted their weights on all "
    f"layers of their block (the least-changed source {', '.join(f'{s:.0%}' for s in transition_spread)} of the "
    f"most-changed), so the features of early layers reach the next block, as in the paper. In blocks 2 and 3 the "
    f"block input, the previous transition's output, had its weights changed {input_share[1]:.2f}x and "
    f"{input_share[2]:.2f}x as much as the block's own layers: the paper finds transition outputs read least, and "
    f"this run {compare(float(np.mean(input_share[1:])), expected_below=True)}. The classifier changed its weights on "
    f"the last two layers' maps {late_vs_early:.2f}x as much as on the block input and the first layer; the paper "
    f"reports it concentrates on the final maps, and this run {compare(late_vs_early, expected_below=False)}. "
    "One more caveat: each convolution here follows a batch norm whose per-channel scale also decides how much a "
    "source counts; the raw weights, the paper's measure, leave it out."
)
