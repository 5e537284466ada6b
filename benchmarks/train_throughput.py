"""Training throughput: the lecture notes' pipeline against this project's, in one run on one device.

Three paths train the same model from the same weights, each in turn per round:

(a) notes:   torchvision's CIFAR10 through a DataLoader with 2 worker processes
             and PIL transforms (random crop, flip, ToTensor, Normalize): ``WorkerLoader``,
             ``--loader dataloader``; float32; NCHW; the eager step with ``foreach`` SGD;
             batch 64, the notes' batch size.
(b) refimpl at the notes' batch size: the data set kept on the training device and
             augmented there (``DeviceLoader``); on CUDA bfloat16 autocast,
             channels_last, the fused SGD and the whole step replayed from a CUDA
             graph (``refimpl.tools.train.TrainStep``), or ``torch.compile``
             with ``--compile``; on the CPU float32, as (a).
(c) refimpl at the recommended recipe's batch size (``--recipe-batch-size``,
             512 by default: ``refimpl.tools.train.CUDA_BATCH_SIZE``), otherwise as (b).

Each round runs ``--warmup`` steps per path (worker start-up, cuDNN autotuning,
the graph's recording) and then times ``--max-steps`` steps. The printed ratios
are medians over rounds of images/s (b) / (a) and (c) / (a). Goals on a GPU:
(b) >= 5x, (c) >= 10x.

The achieved arithmetic: the floating-point operations of one training step
(forward and backward, counted once by ``torch.utils.flop_counter`` on the
device; 2 per multiply-add) times steps per second, in TFLOP/s, and as a share
of the device's dense bfloat16 peak where the script knows it (``PEAK_BF16_TFLOPS``,
from NVIDIA's datasheets; ``--peak-tflops`` for another device).

    python benchmarks/train_throughput.py --device cuda --dataset cifar10 --download \\
        --out docs/results/train_throughput_cuda.json
    python benchmarks/train_throughput.py --device cpu --model resnet20 --no-small-input --dataset fake \\
        --recipe-batch-size 128 --max-steps 3 --rounds 2 --out docs/results/train_throughput_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from refimpl.tools.data import make_loaders
from refimpl.tools.results import write_result
from refimpl.tools.train import CUDA_BATCH_SIZE, TrainStep, fast_settings, make_optimizer, step_settings, train_epoch
from refimpl.tools.train.command import TrainConfig, build_model

GOALS = {"refimpl": 5.0, "recipe": 10.0}  # (b) / (a) and (c) / (a) on a GPU
GOAL_PEAK_SHARE = 0.35  # (c)'s share of the dense bfloat16 peak
#: dense (not 2:4 sparse) bfloat16 tensor-core peak, TFLOP/s: NVIDIA's H100 SXM and H200 datasheets give
#: 1,979 "with sparsity", half of it dense; the A100 datasheet 312 dense
PEAK_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


@dataclass(frozen=True)
class TrainPath:
    """One way to train: the notes' or refimpl's, at a batch size."""

    name: str
    fast: bool  # refimpl's: on-device data, fast_settings, TrainStep's defaults
    batch_size: int


def train_flops(config: TrainConfig, device: torch.device, batch_size: int) -> float:
    """Floating-point operations of one training step (forward and backward), 2 per multiply-add."""
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.small_input).to(device).train()
    x = torch.randn(batch_size, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch_size,), device=device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return float(counter.get_total_flops())


def images_per_s(config: TrainConfig, device: torch.device, path: TrainPath, warmup: int, steps: int) -> float:
    """Train ``warmup`` steps, then return the images/s of the next ``steps`` steps."""
    amp_dtype, memory_format = fast_settings(device) if path.fast else (None, torch.contiguous_format)
    torch.manual_seed(config.seed)  # the same initial weights for every path
    model = build_model(config.model, config.small_input).to(device, memory_format=memory_format)
    compile = path.fast and config.compile
    forward = torch.compile(model) if compile else model
    cuda_graph, fused = step_settings(device, amp_dtype, compile, None, None) if path.fast else (False, False)
    loader = "device" if path.fast else "dataloader"
    batches, _ = make_loaders(
        config.dataset,
        path.batch_size,
        device,
        loader=loader,
        root=config.data_root,
        download=config.download,
        num_workers=config.workers,
        channels_last=memory_format == torch.channels_last,
    )
    if len(batches) < warmup + steps:
        raise SystemExit(
            f"error: {config.dataset} has {len(batches)} batches of {path.batch_size}, fewer than "
            "--warmup + --max-steps"
        )
    optimizer, scheduler = make_optimizer(model, config, warmup + steps, fused)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    step = TrainStep(forward, optimizer, scaler, amp_dtype, config.label_smoothing, cuda_graph)
    stream = iter(batches)  # one iterator: the workers start once, during the warm-up
    train_epoch(step, stream, warmup, scheduler, memory_format=memory_format, desc=f"{path.name} warm-up")
    timed = train_epoch(step, stream, steps, scheduler, memory_format=memory_format, desc=f"{path.name} timed")
    return timed.images_per_s


def _describe(device: torch.device, path: TrainPath, config: TrainConfig, workers: int) -> str:
    if not path.fast:
        return f"DataLoader, {workers} workers, PIL, float32, NCHW, eager step, batch {path.batch_size}"
    dtype, memory_format = fast_settings(device)
    cuda_graph, fused = step_settings(device, dtype, config.compile, None, None)
    parts = ["on-device data", "float32" if dtype is None else str(dtype).removeprefix("torch.")]
    parts.append("channels_last" if memory_format == torch.channels_last else "NCHW")
    parts.append("compiled" if config.compile else "CUDA graph" if cuda_graph else "eager step")
    parts += ["fused SGD"] if fused else []
    return ", ".join(parts) + f", batch {path.batch_size}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--small-input", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "digits", "fake"])
    parser.add_argument("--data-root", default=".")
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=64, help="the notes' batch size, paths (a) and (b)")
    parser.add_argument(
        "--recipe-batch-size", type=int, default=CUDA_BATCH_SIZE, help="path (c): the recipe's batch size"
    )
    parser.add_argument("--workers", type=int, default=2, help="the notes' DataLoader workers")
    parser.add_argument("--compile", action="store_true", help="torch.compile in paths (b) and (c), not a CUDA graph")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=50, help="timed steps per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bfloat16 peak, if not in the table")
    parser.add_argument("--out", type=Path, help="write the results as JSON here (for docs/results/)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available (use --device cpu)")
    device = torch.device(args.device)
    config = TrainConfig(
        model=args.model,
        small_input=args.small_input,
        dataset=args.dataset,
        data_root=args.data_root,
        download=args.download,
        workers=args.workers,
        compile=args.compile,
    )
    paths = [
        TrainPath("notes", False, args.batch_size),
        TrainPath("refimpl", True, args.batch_size),
        TrainPath("recipe", True, args.recipe_batch_size),
    ]
    measured: dict[str, list[float]] = {p.name: [] for p in paths}
    for _ in range(args.rounds):
        for path in paths:
            measured[path.name].append(images_per_s(config, device, path, args.warmup, args.max_steps))
    notes = measured["notes"]
    ratios = {name: statistics.median(b / a for a, b in zip(notes, measured[name], strict=True)) for name in GOALS}
    flops_per_image = train_flops(config, device, 8) / 8
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)

    print(
        f"{args.model} on {args.dataset}, {device}{f' ({name})' if name else ''}: "
        f"{args.max_steps} steps x {args.rounds} rounds per path"
    )
    rows = []
    for path in paths:
        speed = statistics.median(measured[path.name])
        tflops = speed * flops_per_image / 1e12
        share = f", {tflops / peak:.1%} of the {peak:g} TFLOP/s dense bf16 peak" if peak else ""
        ratio = f", {ratios[path.name]:.2f}x (a)" if path.name in ratios else ""
        settings = _describe(device, path, config, args.workers)
        print(
            f"({'abc'[paths.index(path)]}) {path.name} ({settings}): {speed:,.0f} images/s{ratio}; "
            f"{tflops:.2f} TFLOP/s{share}"
        )
        row = {
            "path": path.name,
            "settings": settings,
            "batch_size": path.batch_size,
            "images_per_s": measured[path.name],
            "tflops": tflops,
        }
        if peak:
            row["peak_share"] = tflops / peak
        if path.name in ratios:
            row["ratio_to_notes"] = ratios[path.name]
        rows.append(row)
    met = True
    if device.type == "cuda":
        checks = [
            f"(b)/(a) {ratios['refimpl']:.2f}x vs goal {GOALS['refimpl']:g}x",
            f"(c)/(a) {ratios['recipe']:.2f}x vs goal {GOALS['recipe']:g}x",
        ]
        met = all(ratios[k] >= v for k, v in GOALS.items())
        if peak:
            share = rows[2]["peak_share"]
            checks.append(f"(c) {share:.1%} of peak vs goal {GOAL_PEAK_SHARE:.0%}")
            met = met and share >= GOAL_PEAK_SHARE
        print("goals: " + "; ".join(checks) + f": {'met' if met else 'NOT met'}")
    else:
        print(f"the goals are for GPUs and are not checked on {device.type}")
    if args.out:
        names = (
            "model",
            "small_input",
            "dataset",
            "batch_size",
            "recipe_batch_size",
            "workers",
            "compile",
            "warmup",
            "max_steps",
            "rounds",
        )
        settings = {k: getattr(args, k) for k in names}
        data = {
            "settings": settings,
            "rows": rows,
            "flops_per_image": flops_per_image,
            "flops_method": "torch.utils.flop_counter, forward and backward of one batch, 2 per multiply-add",
            "peak_bf16_tflops": peak,
            "median_ratio": ratios["refimpl"],
            "goal": {**GOALS, "peak_share": GOAL_PEAK_SHARE},
        }
        write_result(args.out, data, device)
        print(f"wrote {args.out}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
