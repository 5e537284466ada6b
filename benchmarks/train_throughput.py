"""Training throughput: the lecture notes' pipeline against this project's, in one run.

(a) notes:   torchvision's CIFAR10 through a DataLoader with 2 worker processes
             and PIL transforms (random crop, flip, ToTensor, Normalize): ``WorkerLoader``,
             ``--loader dataloader``; float32; NCHW.
(b) refimpl: the data set kept on the training device and augmented there
             (``DeviceLoader``, ``--loader device``); bfloat16 autocast and channels_last on CUDA
             (float32 on the CPU, see ``refimpl.tools.train.fast_settings``);
             ``torch.compile`` with ``--compile``.

Both paths train the same model from the same weights with the same optimiser,
through ``refimpl.tools.train.train_epoch``. Each round runs ``--warmup`` steps (worker
start-up, cuDNN autotuning, compilation) and then times ``--max-steps`` steps,
(a) and (b) in turn; the printed ratio is the median over rounds of
images/s (b) / images/s (a). The goal on a GPU is at least 10x; on a CPU the
model's arithmetic dominates, so expect little difference there.

    python benchmarks/train_throughput.py --device cuda --dataset cifar10 --download \\
        --out docs/results/train_throughput_cuda.json
    python benchmarks/train_throughput.py --device cpu --model resnet20 --no-small-input --dataset fake \\
        --max-steps 3 --rounds 2 --out docs/results/train_throughput_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

from refimpl.tools.data import make_loaders
from refimpl.tools.results import write_result
from refimpl.tools.train import TrainConfig, build_model, fast_settings, make_optimizer, train_epoch

GOAL = 10.0  # (b) / (a) on a GPU


def images_per_s(config: TrainConfig, device: torch.device, fast: bool, warmup: int, steps: int) -> float:
    """Train ``warmup`` steps, then return the images/s of the next ``steps`` steps."""
    amp_dtype, memory_format = fast_settings(device) if fast else (None, torch.contiguous_format)
    torch.manual_seed(config.seed)  # the same initial weights for both paths
    model = build_model(config.model, config.small_input).to(device, memory_format=memory_format)
    forward = torch.compile(model) if fast and config.compile else model
    loader = "device" if fast else "dataloader"
    batches, _ = make_loaders(
        config.dataset,
        config.batch_size,
        device,
        loader,
        config.data_root,
        config.download,
        num_workers=config.workers,
        channels_last=memory_format == torch.channels_last,
    )
    if len(batches) < warmup + steps:
        raise SystemExit(f"error: {config.dataset} has {len(batches)} batches, fewer than --warmup + --max-steps")
    optimizer, scheduler = make_optimizer(model, config.recipe(), warmup + steps)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    stream = iter(batches)  # one iterator: the workers start once, during the warm-up
    args = (optimizer, scheduler, scaler, amp_dtype, memory_format, config.label_smoothing)
    train_epoch(forward, stream, warmup, *args, desc=f"{loader} warm-up")
    return train_epoch(forward, stream, steps, *args, desc=f"{loader} timed").images_per_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--small-input", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--dataset", default="cifar10", choices=["cifar10", "digits", "fake"])
    parser.add_argument("--data-root", default=".")
    parser.add_argument("--download", action="store_true")
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=64, help="the notes' batch size")
    parser.add_argument("--workers", type=int, default=2, help="the notes' DataLoader workers")
    parser.add_argument("--compile", action="store_true", help="torch.compile path (b)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=50, help="timed steps per path and round")
    parser.add_argument("--rounds", type=int, default=3)
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
        batch_size=args.batch_size,
        workers=args.workers,
        compile=args.compile,
    )

    notes, ours = [], []
    for _ in range(args.rounds):
        notes.append(images_per_s(config, device, False, args.warmup, args.max_steps))
        ours.append(images_per_s(config, device, True, args.warmup, args.max_steps))
    ratio = statistics.median(b / a for a, b in zip(notes, ours, strict=True))
    dtype, memory_format = fast_settings(device)
    layout = "channels_last" if memory_format == torch.channels_last else "NCHW"
    fast = f"{'float32' if dtype is None else str(dtype).removeprefix('torch.')}, {layout}"
    fast += ", compiled" if args.compile else ""
    print(f"{args.model} on {args.dataset}, {device}, batch {args.batch_size}: {args.max_steps} steps x {args.rounds}")
    notes_settings = f"DataLoader, {args.workers} workers, PIL, float32, NCHW"
    print(f"(a) notes ({notes_settings}): {statistics.median(notes):,.0f} images/s")
    print(f"(b) refimpl (on-device data, {fast}): {statistics.median(ours):,.0f} images/s")
    if device.type == "cuda":
        verdict = f"goal {GOAL:g}x: {'met' if ratio >= GOAL else 'NOT met'}"
    else:
        verdict = f"the {GOAL:g}x goal is for GPUs and is not checked on {device.type}"
    print(f"median ratio (b)/(a): {ratio:.2f}x; {verdict}")
    if args.out:
        names = ("model", "small_input", "dataset", "batch_size", "workers", "compile", "warmup", "max_steps", "rounds")
        rows = [
            {"path": "notes", "settings": notes_settings, "images_per_s": notes},
            {"path": "refimpl", "settings": f"on-device data, {fast}", "images_per_s": ours},
        ]
        settings = {k: getattr(args, k) for k in names}
        write_result(args.out, {"settings": settings, "rows": rows, "median_ratio": ratio, "goal": GOAL}, device)
        print(f"wrote {args.out}")
    return 1 if device.type == "cuda" and ratio < GOAL else 0


if __name__ == "__main__":
    sys.exit(main())
