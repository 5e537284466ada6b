"""Time one training step (forward + backward) of refimpl against its reference: torchvision or timm.

Every ImageNet model with a reference implementation is covered: the ResNets
and DenseNets against torchvision, the SE-Nets and pre-activation ResNets
against timm. Both models hold the same weights (the reference's, through the
spec's key adapter) and run in the same process on the same input. The two are timed alternately, one step each, so that any drift in the
machine's speed hits both; the printed figure is the median over the repeats of
the ratio refimpl / torchvision (1.00 means equally fast, below 1 means faster).

    python benchmarks/forward_backward.py                      # CPU, every model with a reference
    python benchmarks/forward_backward.py --models resnet50 densenet121 se_resnet50
    python benchmarks/forward_backward.py --device cuda --batch-size 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from refimpl import create_model, get_spec, list_models
from refimpl.tools.results import write_result
from refimpl.tools.verify import reference_model

#: every model whose outputs equal another implementation's (torchvision's or timm's) on the same weights
MODELS = [n for n in list_models() if get_spec(n).reference.is_model and get_spec(n).reference.compare_outputs]
LIMIT = 1.03  # refimpl may be at most 3% slower


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_time(model: torch.nn.Module, x: torch.Tensor) -> float:
    """Seconds for one forward and backward pass."""
    _sync(x.device)
    start = time.perf_counter()
    model(x).float().square().mean().backward()
    _sync(x.device)
    elapsed = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    return elapsed


def measure(name: str, device: torch.device, batch_size: int, image_size: int, repeats: int, warmup: int) -> dict:
    torch.manual_seed(0)
    spec = get_spec(name)
    reference = reference_model(spec)
    if reference is None:
        raise SystemExit(f"error: {name} is compared with timm, which is not installed (pip install timm)")
    reference = reference.to(device)
    ours = create_model(name).to(device)
    ours.load_state_dict(spec.adapt(reference.state_dict()))
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    for _ in range(warmup):
        step_time(ours, x)
        step_time(reference, x)
    ratios, ours_s, ref_s = [], [], []
    for i in range(repeats):
        # alternate who goes first, so neither always runs on a warmer cache
        if i % 2:
            r, o = step_time(reference, x), step_time(ours, x)
        else:
            o, r = step_time(ours, x), step_time(reference, x)
        ours_s.append(o)
        ref_s.append(r)
        ratios.append(o / r)
    return {
        "model": name,
        "refimpl_ms": 1e3 * statistics.median(ours_s),
        "reference": str(spec.reference),
        "reference_ms": 1e3 * statistics.median(ref_s),
        "median_ratio": statistics.median(ratios),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS, metavar="NAME")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the results as JSON here (for docs/results/)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    device = torch.device(args.device)

    rows = []
    for name in tqdm(args.models, desc="models", unit="model"):
        rows.append(measure(name, device, args.batch_size, args.image_size, args.repeats, args.warmup))
    print(f"{'model':<20} {'reference':<28} {'refimpl ms':>11} {'reference ms':>13} {'median ratio':>13}")
    for row in rows:
        print(
            f"{row['model']:<20} {row['reference']:<28} {row['refimpl_ms']:>11.1f} {row['reference_ms']:>13.1f} "
            f"{row['median_ratio']:>13.3f}"
        )
    worst = max(row["median_ratio"] for row in rows)
    verdict = "ok" if worst <= LIMIT else "SLOWER"
    print(f"worst median ratio refimpl/reference: {worst:.3f} (limit {LIMIT}): {verdict}")
    if args.out:
        settings = {k: getattr(args, k) for k in ("batch_size", "image_size", "repeats", "warmup")}
        write_result(args.out, {"settings": settings, "limit": LIMIT, "rows": rows}, device)
        print(f"wrote {args.out}")
    return 0 if worst <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
