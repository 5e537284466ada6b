"""Your own images: does the folder loader keep the training step fed? Both measured in one run, on one device.

Two rates, in turn per round, at the same batch size and image size:

(a) loader:  ``make_loaders("folder", ...)``'s training loader, what ``--dataset folder``
             trains from: Pillow decoding, a random resized crop and a flip in
             ``--workers`` DataLoader processes, batches handed to this process.
(b) step:    one training step of ``--model`` (forward, backward, SGD) on batches of
             that shape already in memory, as ``python -m refimpl train`` runs it
             on the device.

Their ratio (a) / (b) is how much faster the loader delivers than the step
consumes: at 1 or above the step never waits for data. Without ``--data-root``
the script writes ``--images`` random JPEGs of ``--photo-size`` pixels (a
phone photo's scale costs more to decode than CIFAR's 32x32) into a
temporary folder in the ImageFolder layout, two classes.

    python benchmarks/folder_loader.py --device cpu --out docs/results/folder_loader_cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from refimpl.tools.data import make_loaders
from refimpl.tools.results import write_result
from refimpl.tools.train import Recipe, TrainStep, fast_settings, make_optimizer
from refimpl.tools.train.command import build_model


def write_photos(root: Path, images: int, size: tuple[int, int], seed: int = 0) -> Path:
    """``images`` random JPEGs of ``size`` (width, height) in two classes, for train/ and a few for val/."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", images), ("val", 2)):
        for i in range(count):
            folder = root / split / f"class{i % 2}"
            folder.mkdir(parents=True, exist_ok=True)
            # smooth noise compresses and decodes like a photo; white noise would be a worst case
            small = rng.integers(0, 256, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
            Image.fromarray(small).resize(size, Image.BILINEAR).save(folder / f"{i}.jpg", quality=90)
    return root


def loader_rate(root: Path, args: argparse.Namespace, device: torch.device) -> float:
    """Images/s the training loader hands out, after one batch of warm-up (the workers' start)."""
    batches, _ = make_loaders(
        "folder",
        args.batch_size,
        device,
        loader="dataloader",
        root=root,
        num_workers=args.workers,
        image_size=args.image_size,
    )
    stream = iter(batches)
    next(stream)
    start = time.perf_counter()
    for _ in range(args.steps):
        images, _ = next(stream)
    seconds = time.perf_counter() - start
    return args.steps * images.shape[0] / seconds


def step_rate(args: argparse.Namespace, device: torch.device) -> float:
    """Images/s of the training step on batches already in memory, after one step of warm-up."""
    amp_dtype, memory_format = fast_settings(device)
    torch.manual_seed(0)
    model = build_model(args.model, num_classes=2).to(device, memory_format=memory_format)
    optimizer, scheduler = make_optimizer(model, Recipe(), args.steps + 1, fused=device.type == "cuda")
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    step = TrainStep(model, optimizer, scaler, amp_dtype, 0.1, cuda_graph=False)
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=memory_format)
    y = torch.randint(0, 2, (args.batch_size,), device=device)
    step(x, y)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step(x, y)
        scheduler.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return args.steps * args.batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="a folder in the ImageFolder layout (default: generated)")
    parser.add_argument("--images", type=int, default=256, help="training images to generate (default: 256)")
    parser.add_argument("--photo-size", type=int, nargs=2, default=(640, 480), metavar=("W", "H"))
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=4, help="timed batches per rate and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write the results as JSON here (for docs/results/)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available (use --device cpu)")
    if args.data_root is None and args.images < args.batch_size * (args.steps + 1):
        parser.error(f"--images {args.images} is fewer than --batch-size x (--steps + 1) for one pass")
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as temporary:
        root = args.data_root or write_photos(Path(temporary), args.images, tuple(args.photo_size))
        rates: dict[str, list[float]] = {"loader": [], "step": []}
        for _ in range(args.rounds):
            rates["loader"].append(loader_rate(root, args, device))
            rates["step"].append(step_rate(args, device))
    ratio = statistics.median(a / b for a, b in zip(rates["loader"], rates["step"], strict=True))
    width, height = args.photo_size
    source = str(args.data_root) if args.data_root else f"{args.images} generated {width}x{height} JPEGs"
    settings = {
        "loader": f"Pillow decode, random resized crop to {args.image_size}, flip; {args.workers} workers; {source}",
        "step": f"{args.model} forward, backward and SGD on {args.device}, {args.image_size}x{args.image_size}",
    }
    print(f"batch {args.batch_size}, {args.steps} batches x {args.rounds} rounds per rate")
    for name, values in rates.items():
        print(f"({'ab'[name == 'step']}) {name} ({settings[name]}): {statistics.median(values):,.1f} images/s")
    verdict = "keeps the step fed" if ratio >= 1 else "the step waits for data: add --workers"
    print(f"(a) / (b) = {ratio:.2f}: the loader {verdict}")
    if args.out:
        rows = [{"rate": name, "settings": settings[name], "images_per_s": values} for name, values in rates.items()]
        options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
        write_result(args.out, {"settings": options, "rows": rows}, device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
