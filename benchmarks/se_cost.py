"""The cost of squeeze-and-excitation: parameters and GMACs of ResNet-50 vs SE-ResNet-50.

Counts the parameters and multiply-accumulates of one 224x224 image (see
``refimpl.tools.inspection``: GMACs, FLOPs / 2; convolutions and matrix products only)
for ResNet-50, SE-ResNet-50 and SE-ResNet-50 with each reduction ratio r, on the
meta device, so nothing is computed. The paper's published figures are written
next to them with their source, for the docs to compare.

    python benchmarks/se_cost.py --out docs/results/se_cost.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from refimpl.tools.inspection import model_cost
from refimpl.tools.results import write_result

IMAGE_SIZE = 224
REDUCTIONS = (2, 4, 8, 16, 32)

#: quoted from the paper, not measured here; numbers as strings, at the paper's precision
PAPER = {
    "source": "Hu et al., Squeeze-and-Excitation Networks, arXiv:1709.01507",
    "top1_error_percent": {
        "table": "table 2: single-crop top-1 error on ImageNet validation, ResNet-50 as re-implemented by the authors",
        "resnet50": "24.80",
        "se_resnet50": "23.29",
    },
    "gflops": {
        "table": "table 2: GFLOPs as the paper counts them, for one 224x224 image",
        "resnet50": "3.86",
        "se_resnet50": "3.87",
    },
    "text": "'model and computational complexity': about 10% more parameters and a 0.26% relative increase in GFLOPs",
    "note": (
        "not comparable one to one: the paper counts ResNet v1 (stride on the first 1x1 convolution), refimpl "
        "v1.5; and refimpl's GMACs count only convolutions and matrix products (as torchvision does), not SE's "
        "pooling and channel scaling, so they rise by less"
    ),
}


def cost(name: str, **kwargs: int) -> dict[str, float | int]:
    params, macs = model_cost(name, IMAGE_SIZE, **kwargs)
    return {"params": params, "gmacs": macs / 1e9}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON here (for docs/results/)")
    args = parser.parse_args(argv)

    base = cost("resnet50")
    rows = []
    for r in tqdm(REDUCTIONS, desc="reduction ratios", unit="model"):
        row = {"reduction": r, **cost("se_resnet50", reduction=r)}
        row["extra_params_percent"] = 100 * (row["params"] / base["params"] - 1)
        row["extra_gmacs_percent"] = 100 * (row["gmacs"] / base["gmacs"] - 1)
        rows.append(row)

    print(f"{'model':<18} {'r':>3} {'params':>12} {'GMACs':>7} {'+params':>8} {'+GMACs':>8}")
    print(f"{'resnet50':<18} {'-':>3} {base['params']:>12,} {base['gmacs']:>7.3f} {'':>8} {'':>8}")
    for row in rows:
        print(
            f"{'se_resnet50':<18} {row['reduction']:>3} {row['params']:>12,} {row['gmacs']:>7.3f} "
            f"{row['extra_params_percent']:>7.2f}% {row['extra_gmacs_percent']:>7.3f}%"
        )
    err = PAPER["top1_error_percent"]
    print(f"paper, table 2: top-1 error ResNet-50 {err['resnet50']}% vs SE-ResNet-50 {err['se_resnet50']}%")
    if args.out:
        data = {
            "settings": {"image_size": IMAGE_SIZE, "unit": "GMACs = FLOPs / 2, convolutions and matrix products"},
            "resnet50": base,
            "se_resnet50": rows,
            "paper": PAPER,
        }
        write_result(args.out, data)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
