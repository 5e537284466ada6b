"""Every GPU measurement of the project, in one command of under 5 minutes.

    python benchmarks/measure_gpu.py                 # writes docs/results/*_cuda.json
    python benchmarks/measure_gpu.py --out /tmp/r    # somewhere else

On one CUDA device, in this order (each step prints what it measured):

1. ``train_throughput.py``: the notes' pipeline against refimpl at batch 64 and
   at the recipe's batch 512, ResNet-18 with the 3x3 stem, on a CIFAR-10-format
   folder (``--data-root``, or, without one, 60,000 random images written in
   CIFAR-10's format into a temporary folder: throughput does not depend on
   the pixels, and a GPU machine often cannot download the data set);
2. ``densenet_memory.py``: plain, memory-efficient and torchvision's
   memory-efficient DenseNet-121 (32 x 224) and DenseNet-BC-100 (64 x 32);
3. ``forward_backward.py``: refimpl against torchvision and timm, every
   ImageNet model with a reference, batch 64;
4. the ``gpu``-marked tests (``pytest -m gpu``).

A failing goal does not stop the run; the exit status is 1 if any step failed
or missed its goal.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


def write_random_cifar10(root: Path, images_per_file: int = 10_000, seed: int = 0) -> Path:
    """CIFAR-10's folder layout and file format (5 + 1 files of 10,000 uint8 images), random pixels and labels.

    Returns a Python file to import before torchvision loads it: it swaps
    torchvision's expected MD5 sums for these files' (``sitecustomize``-style,
    via ``PYTHONPATH``), since the real sums cannot match.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sums = {}
    for name, n in [(f, images_per_file) for f in [*TRAIN_FILES, "test_batch"]]:
        content = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(content, protocol=2))
        sums[name] = hashlib.md5((folder / name).read_bytes()).hexdigest()
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}, protocol=2))
    sums["batches.meta"] = hashlib.md5((folder / "batches.meta").read_bytes()).hexdigest()
    patch = root / "patch" / "sitecustomize.py"
    patch.parent.mkdir(exist_ok=True)
    patch.write_text(
        "import torchvision.datasets as d\n"
        f"s = {sums!r}\n"
        f"d.CIFAR10.train_list = [[f, s[f]] for f in {TRAIN_FILES!r}]\n"
        "d.CIFAR10.test_list = [['test_batch', s['test_batch']]]\n"
        "d.CIFAR10.meta = {**d.CIFAR10.meta, 'md5': s['batches.meta']}\n"
    )
    return patch.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "results", help="folder for the JSON files")
    parser.add_argument("--data-root", type=Path, help="a folder holding the real cifar-10-batches-py/")
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("error: no CUDA device is available; this script measures the GPU", file=sys.stderr)
        return 2
    python, bench = sys.executable, ROOT / "benchmarks"
    start, failed = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        env = None
        data_root = args.data_root
        if data_root is None:
            data_root = Path(tmp)
            patch = write_random_cifar10(data_root)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(patch), str(ROOT)])}
            print(f"random CIFAR-10-format data in {data_root} ({time.perf_counter() - start:.0f} s)", flush=True)
        steps = [
            [
                bench / "train_throughput.py",
                "--device",
                "cuda",
                "--dataset",
                "cifar10",
                "--data-root",
                str(data_root),
                "--out",
                str(args.out / "train_throughput_cuda.json"),
            ],
            [
                bench / "densenet_memory.py",
                "--device",
                "cuda",
                "--repeats",
                "10",
                "--warmup",
                "3",
                "--out",
                str(args.out / "densenet_memory_cuda.json"),
            ],
            [
                bench / "forward_backward.py",
                "--device",
                "cuda",
                "--batch-size",
                "64",
                "--repeats",
                "7",
                "--out",
                str(args.out / "forward_backward_cuda.json"),
            ],
            ["-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"],
        ]
        for step in steps:
            print(f"\n$ python {' '.join(map(str, step))}", flush=True)
            code = subprocess.run([python, *map(str, step)], cwd=ROOT, env=env, check=False).returncode
            print(f"exit {code}; {time.perf_counter() - start:.0f} s so far", flush=True)
            if code:
                failed.append(str(step[0]))
    print(f"\ndone in {time.perf_counter() - start:.0f} s; " + (f"failed or missed: {failed}" if failed else "all ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
