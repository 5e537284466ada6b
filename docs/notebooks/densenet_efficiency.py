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
# weights metadata. The second trains a small DenseNet-BC with three seeds.

# %% tags=["parameters"]
SCALE = "full"  # "smoke": one epoch of two batches, one seed: how the test suite checks that the page runs
EPOCHS = 30  # passes over the training images

# %%
import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import plot_style, say, seed_everything, show, train_on_digits

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


fig, axes = plt.subplots(2, 1, figsize=(6, 8.4), sharey=True)
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
    ax.set_ylabel("ImageNet-1K top-1 (%)")
axes[1].legend(loc="lower right", fontsize=8)
fig.suptitle("DenseNet vs ResNet, torchvision checkpoints (marker area: parameters)")
fig.tight_layout()
show(
    fig,
    "Two scatter plots of torchvision's published ImageNet top-1 accuracy of each DenseNet and ResNet checkpoint, "
    "against multiply-accumulates per image (above) and parameters (below); the table below gives the numbers.",
    "torchvision이 공개한 DenseNet과 ResNet 체크포인트 각각의 ImageNet top-1 정확도를 이미지당 "
    "곱셈-누산 연산 수(위)와 매개변수 수(아래)에 대해 그린 산점도 두 개입니다. 주황색은 DenseNet, "
    "파란색은 ResNet / ResNeXt이고, 표식의 넓이는 매개변수 수에 비례하며, 속이 빈 표식은 V2 가중치입니다. "
    "숫자는 아래 표에 있습니다.",
)

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
lines_ko = [
    "| DenseNet | ResNet | top-1 차이(%p) | 매개변수(DenseNet / ResNet) | GMACs(DenseNet / ResNet) |",
    *lines[1:],
]
say("\n".join(lines), "\n".join(lines_ko))

# %% tags=["remove_input"]
by_name = {r.spec.name: r for r in rows}
d201, r101, r50 = by_name["densenet201"], by_name["resnet101"], by_name["resnet50"]  # the pairs the paper discusses
best = min(pairs, key=lambda p: abs(p[2]))  # the pair closest in accuracy
fewer_params, fewer_macs = sum(p[3] < 1 for p in pairs), sum(p[4] < 1 for p in pairs)
say(
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
    + ("holds for every pair here." if fewer_params == len(pairs) else f"holds for {fewer_params} of the pairs here."),
    f"**데이터가 보여 주는 것.** 정확도가 가장 가까운 짝은 {best[0].spec.name} 대 {best[1].spec.name}입니다. "
    f"이 짝의 DenseNet은 매개변수의 {best[3]:.0%}, MAC의 {best[4]:.0%}를 쓰고 top-1 차이는 {best[2]:+.2f}%p입니다. "
    f"DenseNet-201(매개변수 {d201.params / 1e6:.1f}M개, {d201.gmacs:.2f} GMACs)의 top-1은 "
    f"ResNet-50({r50.params / 1e6:.1f}M, {r50.gmacs:.2f} GMACs) 대비 {top1(d201) - top1(r50):+.2f}%p, "
    f"ResNet-101({r101.params / 1e6:.1f}M, {r101.gmacs:.2f} GMACs) 대비 {top1(d201) - top1(r101):+.2f}%p입니다. "
    f"짝 {len(pairs)}개 전체를 보면, DenseNet은 {fewer_params}개 짝에서 매개변수가 더 적고(짝지은 ResNet의 "
    f"{min(p[3] for p in pairs):.0%}~{max(p[3] for p in pairs):.0%}), {fewer_macs}개 짝에서 MAC이 더 적습니다"
    f"({min(p[4] for p in pairs):.0%}~{max(p[4] for p in pairs):.0%}). "
    f"논문의 그림 3에서는 DenseNet-201이 ResNet-101과 같은 수준이지만, 이 데이터에서는 "
    f"{abs(top1(d201) - top1(r101)):.2f}%p {'뒤처집니다' if top1(d201) < top1(r101) else '앞섭니다'}. "
    "논문은 torchvision의 체크포인트가 아니라 fb.resnet.torch로 훈련한 ResNet과 비교하므로 논문의 짝은 "
    "이 짝들과 다릅니다. 매개변수의 일부만으로 ResNet의 정확도를 낸다는 논문의 주장은 "
    + (
        "이 페이지의 모든 짝에서 성립합니다."
        if fewer_params == len(pairs)
        else f"이 페이지의 짝 가운데 {fewer_params}개에서 성립합니다."
    ),
)

# %% [markdown]
# ## Feature reuse: which earlier features does each layer read?
#
# A small DenseNet-BC in the CIFAR layout: a 16-channel stem, three dense blocks
# of four layers with growth rate k = 8, compression 0.5 in the transitions. It
# trains on the offline `digits` data set (1,437 training images, 360 test
# images, 8x8 pixels fed at 16x16, so the last block still sees a 4x4 map)
# for 30 epochs, to the end of a one-cycle schedule, three seeds.

# %%
SEEDS, MAX_STEPS = (0, 1, 2), None
if SCALE == "smoke":
    EPOCHS, SEEDS, MAX_STEPS = 1, (0,), 2
models, initial, accuracy = {}, {}, {}
for seed in SEEDS:
    seed_everything(seed)
    models[seed] = DenseNet(
        growth_rate=8, block_config=(4, 4, 4), num_init_features=16, num_classes=10, small_input=True
    )
    initial[seed] = copy.deepcopy(models[seed])  # to measure how far training moved the weights
    history = train_on_digits(models[seed], EPOCHS, 0.1, 64, seed, size=16, max_steps=MAX_STEPS)
    accuracy[seed] = history.test_accuracy[-1]
print("test accuracy: " + ", ".join(f"seed {s}: {a:.1%}" for s, a in accuracy.items()))

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
# The paper's map is taken after 300 epochs on CIFAR-10, when the weights are
# far from their random start, in which every source gets the same weight in
# expectation. This network reaches its accuracy in far fewer steps, and its
# weights stay close to that start, so the paper's measure is drawn second; the
# first map is the same measure of what training *changed*, $|w - w_\text{init}|$.


# %%
def readers(net: DenseNet, block: int) -> list[torch.Tensor]:
    """The weights that read block ``block``'s sources: its layers' 1x1 convolutions, then the layer after it."""
    layers = list(getattr(net.features, f"denseblock{block}").values())
    transition = getattr(net.features, f"transition{block}", None)
    after = transition.conv if transition is not None else net.classifier
    return [layer.conv1.weight.detach().flatten(1) for layer in layers] + [after.weight.detach()]


def reuse_map(model: DenseNet, block: int) -> np.ndarray:
    """Mean |weight| that each reader (row) puts on each source (column).

    Rows: the block's layers 1..L, then the layer after the block. Columns: the
    block input x_0, then layers 1..L. Cells a reader cannot see are NaN.
    """
    weights = readers(model, block)
    k0, k = weights[0].shape[1], weights[1].shape[1] - weights[0].shape[1]
    bounds = [0, *(k0 + k * i for i in range(len(weights)))]  # channel ranges of the sources
    heat = np.full((len(weights), len(bounds) - 1), np.nan)
    for row, w in enumerate(weights):  # w: (out, in), one column per input channel
        for col in range(len(bounds) - 1):
            if bounds[col + 1] <= w.shape[1]:
                heat[row, col] = w[:, bounds[col] : bounds[col + 1]].abs().mean().item()
    return heat


def moved(seed: int) -> float:
    """How far training moved the readers' weights: mean |w - w_init| over mean |w|, all blocks."""
    pairs = [(w, w0) for b in (1, 2, 3) for w, w0 in zip(readers(models[seed], b), readers(initial[seed], b))]
    return float(np.mean([((w - w0).abs().mean() / w.abs().mean()).item() for w, w0 in pairs]))


def reuse_change(seed: int, block: int) -> np.ndarray:
    """``reuse_map`` of the weight change |w - w_init| that training made, for one seed's model."""
    changed = copy.deepcopy(models[seed])
    for w, w0 in zip(readers(changed, block), readers(initial[seed], block), strict=True):
        w.sub_(w0)  # readers() returns views of the copy's weights
    return reuse_map(changed, block)


maps = {seed: [reuse_map(models[seed], b) for b in (1, 2, 3)] for seed in SEEDS}  # the paper's measure
changes = {seed: [reuse_change(seed, b) for b in (1, 2, 3)] for seed in SEEDS}  # what training changed


def draw(heats: list[np.ndarray], title: str) -> plt.Figure:
    """One heat map per block, each row scaled by its largest cell."""
    fig, axes = plt.subplots(1, 3, figsize=(6.4, 3.0))
    for b, (ax, heat) in enumerate(zip(axes, heats, strict=True), start=1):
        shown = heat / np.nanmax(heat, axis=1, keepdims=True)  # each row relative to its strongest source
        image = ax.imshow(shown, cmap="viridis", vmin=0, vmax=1)
        ax.grid(False)
        n = heat.shape[1] - 1
        ax.set_xticks(range(n + 1), ["in", *map(str, range(1, n + 1))], fontsize=9)
        ax.set_yticks(range(n + 1), [*map(str, range(1, n + 1)), "trans." if b < 3 else "class."], fontsize=9)
        ax.set_xlabel("source", fontsize=9)
        ax.set_title(f"block {b}", fontsize=10)
    axes[0].set_ylabel("reader")
    fig.colorbar(image, ax=axes, fraction=0.03, pad=0.03, label="share of the row's largest")
    fig.suptitle(title, fontsize=10)
    return fig


HOW = (
    ": three heat maps, one per dense block; rows are the reading layers (the block's four layers, then the "
    "transition or the classifier), columns the sources (the block input, then layers 1 to 4); brighter cells "
    "carry more, relative to the row's largest."
)
title = "Mean |weight change| in training, per reader and source (seed 0)"
HOW_KO = (
    ": 밀집 블록마다 하나씩 그린 히트맵 세 개입니다. 행(reader)은 읽는 층(블록의 네 층, 이어서 전이 층(trans.) "
    "또는 분류기(class.)), 열(source)은 출처(블록 입력(in), 이어서 층 1~4)입니다. 밝은 칸일수록 그 행의 가장 "
    "큰 칸에 비해 많이 실린 것이고, 색 막대(share of the row's largest)는 행의 최댓값 대비 비율입니다."
)
title_ko = "훈련 중 가중치 변화의 절댓값 평균, 읽는 층과 출처별(시드 0)"
show(draw(changes[SEEDS[0]], title), title + HOW, title_ko + HOW_KO)

# %%
title = "Mean |weight| after training, the paper's figure 5 measure (seed 0)"
title_ko = "훈련 후 가중치 절댓값의 평균, 논문 그림 5의 척도(시드 0)"
show(draw(maps[SEEDS[0]], title), title + HOW, title_ko + HOW_KO)

# %% tags=["remove_input"]
MARGIN = 0.1  # a ratio within 10% of 1 is no preference
# per seed: the weakest source of a dense layer over the strongest, in each block (1: all sources weighted alike)
weakest = np.array([[np.nanmin(h[:-1]) / np.nanmax(h[:-1]) for h in maps[s]] for s in SEEDS])  # (seeds, 3)
# per seed, from the change: the block input against the block's own layers, for the readers that see both
# (rows 2..L), blocks 2 and 3
input_share = np.array(
    [np.mean([np.mean(h[1:-1, 0] / np.nanmean(h[1:-1, 1:], axis=1)) for h in changes[s][1:]]) for s in SEEDS]
)
# per seed, from the change: the classifier on the last two layers' maps against the block input and the first layer
late_vs_early = np.array([changes[s][2][-1, -2:].mean() / changes[s][2][-1, :2].mean() for s in SEEDS])
# per seed, from the change: the transitions' least-changed source over their most-changed, blocks 1 and 2
transition_spread = np.array([[np.min(h[-1]) / np.max(h[-1]) for h in changes[s][:2]] for s in SEEDS])
movement = np.array([moved(s) for s in SEEDS])


def rng(values: np.ndarray, fmt: str = ".2f") -> str:
    return f"{np.median(values):{fmt}} ({values.min():{fmt}} to {values.max():{fmt}})"


def compare(ratios: np.ndarray, expected_below: bool) -> str:
    """Against the paper: the ratio is beyond the margin on the paper's side in every seed, on the other, or neither."""
    if (ratios < 1 - MARGIN).all() or (ratios > 1 + MARGIN).all():
        return "agrees with the paper in every seed" if (ratios < 1).all() == expected_below else "differs from it"
    return f"shows no clear preference (a ratio within {MARGIN:.0%} of 1 in at least one seed)"


def rng_ko(values: np.ndarray, fmt: str = ".2f") -> str:
    return f"{np.median(values):{fmt}}({values.min():{fmt}}~{values.max():{fmt}})"


def compare_ko(ratios: np.ndarray, expected_below: bool) -> str:
    """``compare`` in Korean, as the predicate of "이번 실행은 ..."."""
    if (ratios < 1 - MARGIN).all() or (ratios > 1 + MARGIN).all():
        return "모든 시드에서 논문과 일치합니다" if (ratios < 1).all() == expected_below else "논문과 다릅니다"
    return f"뚜렷한 선호를 보이지 않습니다(적어도 한 시드에서 비율과 1의 차이가 {MARGIN:.0%} 이내입니다)"


say(
    f"**What this run shows** ({EPOCHS} epochs, {len(SEEDS)} seeds; test accuracy "
    f"{rng(np.array(list(accuracy.values())), '.1%')}; the median over the seeds, their range in brackets). "
    f"Training moved the weights that read the sources by {rng(movement, '.0%')} of their size. "
    + (
        "That is too little for the paper's measure to show more than the random start: "
        if movement.max() < 0.5
        else "In the paper's measure, "
    )
    + f"the weakest source of a dense layer gets {rng(weakest[:, 0])}, {rng(weakest[:, 1])} and {rng(weakest[:, 2])} "
    "of the strongest in blocks 1, 2 and 3"
    + (
        ", close to the uniform weights of the start, so this map can neither confirm nor refute the paper's. "
        if movement.max() < 0.5
        else ". "
    )
    + "The change training made shows what it learned. "
    + (
        "The transitions changed their weights on every layer of their block (the least-changed source gets "
        f"{rng(transition_spread.min(1))} of the most-changed), so the features of early layers do reach the next "
        "block, as the paper says. "
        if transition_spread.min() > 0.3
        else "The transitions changed their weights on some layers of their block far more than on others (the "
        f"least-changed source gets {rng(transition_spread.min(1))} of the most-changed). "
    )
    + "In blocks 2 and 3 the block input, the previous "
    f"transition's output, had its weights changed {rng(input_share)} times as much as the block's own layers: the "
    f"paper finds transition outputs read least, and this run {compare(input_share, expected_below=True)}. "
    f"The classifier changed its weights on the last two layers' maps {rng(late_vs_early)} times as much as on the "
    "block input and the first layer; the paper reports that it concentrates on the final maps, and this run "
    f"{compare(late_vs_early, expected_below=False)}. "
    "One caveat: each convolution here follows a batch norm whose per-channel scale also decides how much a "
    "source counts; the raw weights, the paper's measure, leave it out.",
    f"**이번 실행이 보여 주는 것**({EPOCHS} 에포크, 시드 {len(SEEDS)}개, 시험 정확도 "
    f"{rng_ko(np.array(list(accuracy.values())), '.1%')}; 시드에 걸친 중앙값이고 괄호 안은 범위입니다). "
    f"훈련은 출처를 읽는 가중치를 그 크기의 {rng_ko(movement, '.0%')}만큼 움직였습니다. "
    + (
        "이는 논문의 척도가 무작위 초기값 이상의 것을 보여 주기에는 너무 작은 변화입니다. "
        if movement.max() < 0.5
        else "논문의 척도로 보면, "
    )
    + "밀집 블록의 층에서 가장 약한 출처의 가중치는 가장 강한 출처 대비 블록 1, 2, 3에서 각각 "
    f"{rng_ko(weakest[:, 0])}, {rng_ko(weakest[:, 1])}, {rng_ko(weakest[:, 2])}"
    + (
        "로, 초기값의 균일한 가중치에 가깝습니다. 그래서 이 맵으로는 논문의 맵을 확인할 수도 반박할 수도 없습니다. "
        if movement.max() < 0.5
        else "입니다. "
    )
    + "훈련이 무엇을 배웠는지는 훈련이 만든 변화가 보여 줍니다. "
    + (
        "전이 층은 블록의 모든 층에 대한 가중치를 바꾸었으므로(가장 적게 바뀐 출처도 가장 많이 바뀐 출처 대비 "
        f"{rng_ko(transition_spread.min(1))}), 논문의 말대로 앞쪽 층의 특징은 실제로 다음 블록까지 전해집니다. "
        if transition_spread.min() > 0.3
        else "전이 층은 블록의 일부 층에 대한 가중치를 다른 층보다 훨씬 많이 바꾸었습니다(가장 적게 바뀐 출처는 "
        f"가장 많이 바뀐 출처 대비 {rng_ko(transition_spread.min(1))}). "
    )
    + "블록 2와 3에서 블록 입력, 곧 앞 전이 층의 출력에 대한 가중치는 블록 자신의 층에 대한 가중치의 "
    f"{rng_ko(input_share)}배만큼 바뀌었습니다. 논문은 전이 층의 출력이 가장 적게 읽힌다고 보고하는데, "
    f"이번 실행은 {compare_ko(input_share, expected_below=True)}. "
    f"분류기는 마지막 두 층의 맵에 대한 가중치를 블록 입력과 첫 층에 대한 가중치의 {rng_ko(late_vs_early)}배만큼 "
    "바꾸었습니다. 논문은 분류기가 마지막 맵들에 집중한다고 보고하는데, 이번 실행은 "
    f"{compare_ko(late_vs_early, expected_below=False)}. "
    "주의할 점이 하나 있습니다. 이 네트워크의 각 합성곱은 배치 정규화(batch normalisation) 뒤에 오고, 그 채널별 "
    "스케일도 한 출처가 얼마나 반영되는지를 정합니다. 가중치 값만 보는 논문의 척도는 이를 빼고 잽니다.",
)
