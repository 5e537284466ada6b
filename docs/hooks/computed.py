"""Tables computed from the code while the site is built: counts, costs, configurations, published accuracy.

Each table is a function that a page's marker names (``GENERATORS``, read by
``markers.py``): ``{{ model_zoo }}``, ``{{ paper_table resnet }}``,
``{{ summary resnet50 }}``, ... What is deterministic (parameter counts,
multiply-accumulates, the accuracy torchvision's weights metadata publish) is
computed from the tested code (``refimpl``) at every build, never typed in.
Models are selected by their declaration (``spec.family``, ``spec.reference``),
never by their names; what a paper says is quoted, with its source.

Not a hook (``mkdocs.yml`` does not list it): ``markers.py`` imports it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torchvision
from mkdocs.exceptions import PluginError

from refimpl import get_spec
from refimpl.modelspec import ModelSpec
from refimpl.tools.inspection import (
    ZooRow,
    count_parameters,
    format_table,
    model_cost,
    model_zoo_table,
    summary,
    torchvision_accuracy,
    zoo_rows,
)
from refimpl.tools.verify import paper_count, paper_params_match

#: the families the DenseNet page compares, in the order of its table
EFFICIENCY_FAMILIES = ("densenet", "resnet")

#: SE's cost is shown for SE-ResNet-50 against ResNet-50, the paper's pair, at these reduction ratios
SE_MODEL, SE_BASE, SE_REDUCTIONS = "se_resnet50", "resnet50", (2, 4, 8, 16, 32)

#: quoted from the SE paper, not computed here; numbers as strings, at the paper's precision
SE_PAPER = {
    "source": "Hu et al., Squeeze-and-Excitation Networks, arXiv:1709.01507",
    "table": "table 2",
    "rows": [("ResNet-50", "24.80", "3.86"), ("SE-ResNet-50", "23.29", "3.87")],
    "note": (
        "Top-1 error: single-crop, ImageNet validation, ResNet-50 as re-implemented by the authors; GFLOPs as the "
        "paper counts them, for one 224x224 image. Not comparable one to one with the table above: the paper counts "
        "ResNet v1 (stride on the first 1x1 convolution), refimpl v1.5; and refimpl's MACs count only convolutions "
        "and matrix products (as torchvision does), not SE's pooling and channel scaling, so they rise by less"
    ),
}

#: quoted from the ResNet paper, not computed here; top-1 / top-5 error (%) on ImageNet validation, as strings at the
#: paper's precision, for the torchvision model each row stands beside: (10-crop testing, table 4)
RESNET_PAPER = {
    "source": "He et al., Deep Residual Learning for Image Recognition, arXiv:1512.03385",
    "rows": {
        "resnet18": ("27.88 / –", "not in table 4"),
        "resnet34": ("24.52 / 7.46", "21.84 / 5.71"),
        "resnet50": ("22.85 / 6.71", "20.74 / 5.25"),
        "resnet101": ("21.75 / 6.05", "19.87 / 4.60"),
        "resnet152": ("21.43 / 5.71", "19.38 / 4.49"),
    },
    "note": (
        "10-crop: table 3, and for ResNet-18 table 2, which gives top-1 only and has zero-padding shortcuts "
        "(option A). Table 4: the paper's best single-model results, from its testing for best results (fully "
        "convolutional, scores averaged over five scales, shorter side 224 to 640), so not 10-crop, and lower. "
        "ResNet-34 is option B (projections only where the dimensions grow), as in torchvision; with projections on "
        "every shortcut (option C) the paper has 24.19 / 7.40 (table 3) and 21.53 / 5.60 (table 4). The paper's "
        "ResNet-50, 101 and 152 are v1 (stride on the first 1x1 convolution), torchvision's and refimpl's v1.5 "
        "(stride on the 3x3)"
    ),
}


#: the zoo rows of this build: ``markers.py`` empties it when a build starts (``mkdocs serve`` rebuilds in one process)
ROWS: dict[str, ZooRow] = {}


def _rows() -> dict[str, ZooRow]:
    """Every model's zoo row, computed once per build (several tables read them)."""
    if not ROWS:
        ROWS.update((row.spec.name, row) for row in zoo_rows())
    return ROWS


def _select(family: str, model_reference: bool) -> list[ZooRow]:
    """The rows of one family whose reference is a model (``True``) or a paper's table (``False``)."""
    return [r for r in _rows().values() if r.spec.family == family and r.spec.reference.is_model == model_reference]


def _meta(spec: ModelSpec) -> torch.nn.Module:
    """The model built on the ``meta`` device: its structure without any memory or arithmetic."""
    with torch.device("meta"):
        return spec.builder()


def model_zoo() -> str:
    """Every registered model: size, cost, reference, checkpoints and official accuracy."""
    return model_zoo_table(_rows().values(), markdown=True)


def resnet_stages() -> str:
    """The ImageNet ResNets' configuration (family "resnet", verified against a model), read off the models."""
    rows = []
    for row in _select("resnet", model_reference=True):
        model = _meta(row.spec)
        stages = [len(getattr(model, f"layer{i}")) for i in range(1, 5)]
        block = type(model.layer1[0]).__name__
        weighted = sum(
            isinstance(m, torch.nn.Conv2d | torch.nn.Linear) for n, m in model.named_modules() if "downsample" not in n
        )
        stages = " / ".join(map(str, stages))
        rows.append([f"`{row.spec.name}`", block, stages, weighted, f"{row.params:,}", f"{row.gmacs:.2f}"])
    header = ["model", "block", "blocks per stage (conv2_x … conv5_x)", "weighted layers", "parameters", "GMACs (224²)"]
    return format_table(header, rows, "lllrrr", markdown=True)


def resnet_depths() -> str:
    """ResNet by depth (family "resnet", label "ResNet"): the paper's errors beside torchvision's V1 accuracy and cost."""
    rows = []
    for row in _select("resnet", model_reference=True):
        if row.spec.label != "ResNet":  # ResNeXt and Wide ResNet are later papers'
            continue
        quoted = RESNET_PAPER["rows"].get(row.spec.reference.name)
        if quoted is None:
            raise PluginError(f"{row.spec.name}: no row of the ResNet paper to show; add it to RESNET_PAPER")
        top1, top5 = row.top1["IMAGENET1K_V1"], torchvision_accuracy(row.spec, top=5)["IMAGENET1K_V1"]
        rows.append([f"`{row.spec.name}`", f"{row.params:,}", f"{row.gmacs:.2f}", *quoted, f"{top1:.2f} / {top5:.2f}"])
    header = [
        "model",
        "parameters",
        "GMACs (224²)",
        "paper, 10-crop: top-1 / top-5 error (%)",
        "paper, table 4: top-1 / top-5 error (%)",
        "torchvision V1, 1-crop: top-1 / top-5 accuracy (%)",
    ]
    return format_table(header, rows, "lrrrrr", markdown=True) + (
        f"\n\n*Paper: error on ImageNet validation, quoted from {RESNET_PAPER['source']}. {RESNET_PAPER['note']}. "
        "torchvision: accuracy (100 less the error) of the IMAGENET1K_V1 weights on one 224² center crop, from the "
        f"weights metadata of torchvision {torchvision.__version__.split('+')[0]}. Parameters and GMACs computed from "
        "the code when this site was built.*"
    )


def paper_table(family: str) -> str:
    """The models of ``family`` built from a paper's table, against that table."""
    rows = []
    for row in _select(family, model_reference=False):
        ref = row.spec.reference
        counted = paper_count(_meta(row.spec), ref)  # as the paper counts: with BN's parameters, or without
        ok = "✓" if paper_params_match(counted, ref.params or "") else "✗"
        params = f"{row.params:,}" + ("" if ref.counts_norm else f" ({counted:,} without BN)")
        rows.append([f"`{row.spec.name}`", params, f"{ref.params}M", ok, f"{row.macs / 1e6:.1f}", ref.name])
    if not rows:
        raise PluginError(f"no model of family {family!r} is verified against a paper's table")
    header = ["model", "parameters", "paper", "rounds to paper", "MMACs (32²)", "source"]
    return format_table(header, rows, "lrrlrl", markdown=True)


def api_model_files() -> str:
    """One API section per model file (family), in the order of the declarations: a new family needs no line here."""
    from refimpl.specs import SPECS

    families: dict[str, str] = {}
    for spec in SPECS.values():
        families.setdefault(spec.family, spec.label)  # the first model's label names the family: "ResNet", ...
    options = "    options:\n      show_root_heading: false\n      show_root_toc_entry: false"
    return "\n\n".join(
        f"## {label}: `refimpl.{family}` {{ #refimpl-{family} }}\n\n::: refimpl.{family}\n{options}"
        for family, label in families.items()
    )


def densenet_configs() -> str:
    """The ImageNet DenseNets' configuration (family "densenet", verified against a model), read off the models."""
    rows = []
    for row in _select("densenet", model_reference=True):
        model = _meta(row.spec)
        blocks = [m for n, m in model.features.named_children() if n.startswith("denseblock")]
        k = blocks[0].denselayer1.conv2.out_channels
        k0 = model.features.conv0.out_channels
        layers = " / ".join(str(len(b)) for b in blocks)
        final = model.classifier.in_features
        rows.append([f"`{row.spec.name}`", k, k0, layers, final, f"{row.params:,}", f"{row.gmacs:.2f}"])
    header = ["model", "growth rate k", "stem channels", "layers per block", "final channels", "parameters"]
    return format_table([*header, "GMACs (224²)"], rows, "lrrlrrr", markdown=True)


def efficiency() -> str:
    """DenseNet vs ResNet: parameters, GMACs and torchvision's top-1, for every model with torchvision's weights."""
    rows = []
    for family in EFFICIENCY_FAMILIES:
        for row in _select(family, model_reference=True):
            if not row.top1:
                continue
            # rounded as printed, so that the quotient is that of the figures beside it
            params = round(row.params / 1e6, 2)
            v1, v2 = (round(row.top1[k], 2) if k in row.top1 else None for k in ("IMAGENET1K_V1", "IMAGENET1K_V2"))
            top1 = [f"{v:.2f}" if v is not None else "" for v in (v1, v2)]
            per_m = f"{v1 / params:.1f}" if v1 is not None else ""
            rows.append([f"`{row.spec.name}`", f"{params:.2f}", f"{row.gmacs:.2f}", *top1, per_m])
    header = ["model", "parameters (M)", "GMACs (224²)", "top-1 V1 (%)", "top-1 V2 (%)", "V1 top-1 per M parameters"]
    return format_table(header, rows, markdown=True) + (
        "\n\n*Parameters and GMACs computed from the code when this site was built; top-1 on ImageNet-1K from the "
        f"weights metadata of torchvision {torchvision.__version__.split('+')[0]}. Compare V1 with V1: the V2 weights "
        "come from a newer training recipe, which DenseNet never got.*"
    )


def summary_block(name: str) -> str:
    """The torchinfo summary of a model, folded."""
    spec = get_spec(name)
    model = spec.builder()
    size = spec.input_size
    stats = summary(model, (1, 3, size, size), depth=3)
    body = "\n".join("    " + line for line in f"{stats}".splitlines())
    title = f"torchinfo summary of {name} ({count_parameters(model):,} parameters, input 1x3x{size}x{size})"
    return f'??? abstract "{title}"\n\n    ```text\n{body}\n    ```'


def feature_nodes(name: str, *nodes: str) -> str:
    """The return nodes of torchvision's ``create_feature_extractor`` for a model, with their output shapes.

    Traced with ``torch.fx`` and run on the meta device at the model's input size.
    """
    from torchvision.models.feature_extraction import create_feature_extractor

    spec = get_spec(name)
    size = spec.input_size
    extractor = create_feature_extractor(_meta(spec).eval(), return_nodes=list(nodes))
    outputs = extractor(torch.empty(1, 3, size, size, device="meta"))
    rows = [
        [f"`{node}`", " × ".join(map(str, out.shape[1:])), f"1/{size // out.shape[-1]}"]
        for node, out in outputs.items()
    ]
    table = format_table(["return node", f"output (C × H × W) at {size}²", "resolution"], rows, "llr", markdown=True)
    return table + f"\n\n*Traced from `{name}` while the site was built.*"


def se_cost() -> str:
    """What SE costs ResNet-50, over the reduction ratio r, counted on the meta device."""
    base_params, base_macs = model_cost(SE_BASE)
    rows = [[f"`{SE_BASE}`", "", f"{base_params:,}", f"{base_macs:,}", "", ""]]
    for r in SE_REDUCTIONS:
        params, macs = model_cost(SE_MODEL, reduction=r)
        # exact counts, not GMACs to three decimals: the extra MACs are a few in ten thousand, below that rounding
        extra = [f"+{100 * (params / base_params - 1):.1f}%", f"+{100 * (macs / base_macs - 1):.3f}%"]
        rows.append([f"`{SE_MODEL}`", r, f"{params:,}", f"{macs:,}", *extra])
    header = ["model", "r", "parameters", "MACs (224²)", "extra parameters", "extra MACs"]
    return format_table(header, rows, markdown=True) + (
        "\n\n*Computed from the code when this site was built, on the meta device. Extra: the count over "
        f"`{SE_BASE}`'s, less one. MACs count convolutions and matrix products only, as torchvision does.*"
    )


def se_paper() -> str:
    """The SE paper's published figures, quoted with their source."""
    header = ["model (paper's re-implementation)", "top-1 error (%)", "GFLOPs (paper's counting)"]
    return format_table(header, [list(row) for row in SE_PAPER["rows"]], markdown=True) + (
        f"\n\n*Quoted from {SE_PAPER['source']}, {SE_PAPER['table']}. {SE_PAPER['note']}.*"
    )


GENERATORS: dict[str, Callable[..., str]] = {
    "api_model_files": api_model_files,
    "model_zoo": model_zoo,
    "resnet_stages": resnet_stages,
    "resnet_depths": resnet_depths,
    "paper_table": paper_table,
    "densenet_configs": densenet_configs,
    "efficiency": efficiency,
    "summary": summary_block,
    "feature_nodes": feature_nodes,
    "se_cost": se_cost,
    "se_paper": se_paper,
}
