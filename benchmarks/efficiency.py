"""DenseNet's "parameter and computational efficiency", measured: DenseNet vs ResNet on ImageNet.

For each model: the exact parameter count and the GMACs of one 224x224 image
(``refimpl.tools.inspection.model_cost``, counted on the meta device), and the
ImageNet-1K accuracy of each checkpoint torchvision publishes, read from
torchvision's weights metadata when the script runs. The checkpoints are kept
apart: ``IMAGENET1K_V1`` are torchvision's original checkpoints (DenseNet's
were ported from the authors' LuaTorch models), ``IMAGENET1K_V2`` exist only
for the ResNets and come from torchvision's newer, much longer training
recipe, so comparing a V2 ResNet with a V1 DenseNet compares recipes as much
as architectures.

    python benchmarks/efficiency.py --out docs/results/efficiency.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from torchvision.models import get_model_weights

from refimpl import get_spec
from refimpl.tools.inspection import model_cost
from refimpl.tools.results import write_result

MODELS = ["densenet121", "densenet169", "densenet201", "resnet50", "resnet101", "resnet152"]
IMAGE_SIZE = 224


def rows(models: list[str] = MODELS) -> list[dict[str, Any]]:
    """One row per model: parameters, MACs and the published accuracy of each checkpoint."""
    out = []
    for name in models:
        spec = get_spec(name)
        params, macs = model_cost(name, IMAGE_SIZE)
        checkpoints = {}
        for weights in get_model_weights(spec.reference_name):
            metrics = weights.meta["_metrics"]["ImageNet-1K"]
            checkpoints[weights.name] = {
                "top1": metrics["acc@1"],
                "top5": metrics["acc@5"],
                "recipe": weights.meta["recipe"],
            }
        out.append(
            {
                "model": name,
                "family": spec.family,
                "params": params,
                "macs": macs,
                "gmacs": round(macs / 1e9, 3),
                "imagenet1k": checkpoints,
            }
        )
    return out


def _top1(row: dict[str, Any], version: str) -> str:
    entry = row["imagenet1k"].get(version)
    return "-" if entry is None else f"{entry['top1']:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS, metavar="NAME")
    parser.add_argument("--out", type=Path, help="write the table as JSON here (for docs/results/)")
    args = parser.parse_args(argv)

    table = rows(args.models)
    print(f"{'model':<12} {'params (M)':>10} {'GMACs':>7} {'top-1 V1':>9} {'top-1 V2':>9}")
    for row in table:
        print(
            f"{row['model']:<12} {row['params'] / 1e6:>10.2f} {row['gmacs']:>7.3f} "
            f"{_top1(row, 'IMAGENET1K_V1'):>9} {_top1(row, 'IMAGENET1K_V2'):>9}"
        )
    print(f"GMACs of one {IMAGE_SIZE}x{IMAGE_SIZE} image; top-1 (%) on ImageNet-1K as torchvision publishes it.")
    if args.out:
        data = {"image_size": IMAGE_SIZE, "source": "torchvision weights metadata", "rows": table}
        write_result(args.out, data)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
