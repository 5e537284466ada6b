"""Peak memory and time of one DenseNet training step, plain vs ``memory_efficient=True``.

The memory-efficient mode recomputes each layer's concatenation and bottleneck
(BN-ReLU-Conv1x1) in the backward pass instead of storing them (Pleiss et al.
2017, arXiv:1707.06990), so the stored activations grow linearly with depth
instead of quadratically. Published figures: about 0.5x the memory at about
1.2-1.4x the time (the paper; torchvision PR 797). The goal here: at most 0.5x
the memory at at most 1.35x the time.

Memory: each configuration and mode runs in a fresh Python process, so that
one run's memory cannot hide in another's peak. A step is a forward pass, a
cross-entropy loss and a backward pass (no optimizer: its memory is the same
in both modes). The memory reported is the peak of the step minus what the
process held once the model and the input were built, that is activations,
gradients and workspace:

- on the CPU, the process's peak resident memory (``ru_maxrss``) minus its
  resident memory after building (from ``/proc/self/statm``);
- on CUDA, ``torch.cuda.max_memory_allocated`` minus ``memory_allocated``
  after building (the caching allocator's reserve is not counted).

The peak before the first backward pass (``forward_peak_mib``) is reported
too: it is what the stored activations take, without the backward pass's own
temporary memory.

Time: both modes hold the same weights in one process and run alternately,
step by step, after warm-up steps, so that any drift in the machine's speed
hits both; the ratio is the median of the per-pair ratios.

    python benchmarks/densenet_memory.py --out docs/results/densenet_memory_cpu.json
    python benchmarks/densenet_memory.py --threads 1 ...   # on a CPU shared with other jobs
    python benchmarks/densenet_memory.py --device cuda --repeats 10 --out docs/results/densenet_memory_cuda.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from refimpl import create_model
from refimpl.results import write_result

#: model -> (batch size, image side), as the issue asks
CONFIGS: dict[str, tuple[int, int]] = {"densenet121": (32, 224), "densenet_bc_100": (64, 32)}
GOAL_MEMORY = 0.5  # memory-efficient / plain, at most
GOAL_TIME = 1.35  # memory-efficient / plain, at most
MIB = 2**20


def _rss_now() -> int:
    """Resident memory of this process now, in bytes (Linux); else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _rss_peak()


def _rss_peak() -> int:
    """Peak resident memory of this process, in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _batch(model: torch.nn.Module, batch_size: int, image_size: int, device: torch.device) -> tuple[Tensor, Tensor]:
    x = torch.randn(batch_size, 3, image_size, image_size, device=device)
    target = torch.randint(0, model.classifier.out_features, (batch_size,), device=device)
    return x, target


def step(model: torch.nn.Module, x: Tensor, target: Tensor) -> None:
    """One training step without the optimizer: forward, cross-entropy, backward."""
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), target).backward()


def peak_memory(model_name: str, memory_efficient: bool, batch_size: int, image_size: int,
                device_name: str, steps: int, threads: int | None) -> dict[str, float]:  # fmt: skip
    """Peak memory of ``steps`` training steps in this process (called in a fresh subprocess)."""
    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_name)
    torch.manual_seed(0)
    model = create_model(model_name, memory_efficient=memory_efficient).to(device).train()
    x, target = _batch(model, batch_size, image_size, device)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
    else:
        baseline = _rss_now()

    def peak() -> int:
        _sync(device)
        return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else _rss_peak()

    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), target)
    forward_peak = peak()  # what the stored activations take, before any backward pass
    loss.backward()
    del loss
    for _ in range(steps - 1):
        step(model, x, target)
    return {"peak_mib": (peak() - baseline) / MIB, "forward_peak_mib": (forward_peak - baseline) / MIB}


def measure_memory(model_name: str, memory_efficient: bool, args: argparse.Namespace) -> dict[str, float]:
    """Run ``peak_memory`` for one configuration in a fresh Python process."""
    batch_size, image_size = CONFIGS[model_name]
    spec = [model_name, memory_efficient, batch_size, image_size, args.device, args.memory_steps, args.threads]
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{model_name} (memory_efficient={memory_efficient}) failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_time(model_name: str, args: argparse.Namespace) -> dict[str, float]:
    """Seconds per step of both modes, same weights, same input, alternating step by step.

    Alternating (and switching who goes first) lets any drift in the machine's
    speed hit both modes; the ratio is the median of the per-pair ratios.
    """
    device = torch.device(args.device)
    batch_size, image_size = CONFIGS[model_name]
    torch.manual_seed(0)
    plain = create_model(model_name).to(device).train()
    efficient = create_model(model_name, memory_efficient=True).to(device).train()
    efficient.load_state_dict(plain.state_dict())
    x, target = _batch(plain, batch_size, image_size, device)

    def timed(model: torch.nn.Module) -> float:
        _sync(device)
        start = time.perf_counter()
        step(model, x, target)
        _sync(device)
        return time.perf_counter() - start

    for _ in range(args.warmup):
        timed(plain)
        timed(efficient)
    plain_s, efficient_s = [], []
    for i in range(args.repeats):
        if i % 2:
            e, p = timed(efficient), timed(plain)
        else:
            p, e = timed(plain), timed(efficient)
        plain_s.append(p)
        efficient_s.append(e)
    return {
        "plain_s": statistics.median(plain_s),
        "memory_efficient_s": statistics.median(efficient_s),
        "time_ratio": statistics.median(e / p for e, p in zip(efficient_s, plain_s, strict=True)),
        "plain_steps_s": plain_s,
        "memory_efficient_steps_s": efficient_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=2, help="timed steps of each mode (default: 2)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps of each mode first (default: 1)")
    parser.add_argument("--memory-steps", type=int, default=1, help="steps whose peak is measured (default: 1)")
    parser.add_argument("--threads", type=int, help="CPU threads of torch (default: torch's own choice)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here (for docs/results/)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(peak_memory(*json.loads(args.child))))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")

    rows = []
    for name in tqdm(args.models, desc="models", unit="model"):
        plain, efficient = measure_memory(name, False, args), measure_memory(name, True, args)
        timing = measure_time(name, args)
        batch_size, image_size = CONFIGS[name]
        memory_ratio = efficient["peak_mib"] / plain["peak_mib"]
        rows.append(
            {
                "model": name,
                "batch_size": batch_size,
                "image_size": image_size,
                "plain": {**plain, "step_s": timing["plain_s"], "steps_s": timing["plain_steps_s"]},
                "memory_efficient": {
                    **efficient,
                    "step_s": timing["memory_efficient_s"],
                    "steps_s": timing["memory_efficient_steps_s"],
                },
                "memory_ratio": memory_ratio,
                "forward_memory_ratio": efficient["forward_peak_mib"] / plain["forward_peak_mib"],
                "time_ratio": timing["time_ratio"],
                "meets_goal": memory_ratio <= GOAL_MEMORY and timing["time_ratio"] <= GOAL_TIME,
            }
        )

    print(f"{'model':<16} {'batch':>5} {'size':>4} {'plain MiB':>10} {'eff. MiB':>9} {'memory':>7} {'fwd':>6} "
          f"{'plain s':>8} {'eff. s':>7} {'time':>6}  goal")  # fmt: skip
    for r in rows:
        print(
            f"{r['model']:<16} {r['batch_size']:>5} {r['image_size']:>4} {r['plain']['peak_mib']:>10.0f} "
            f"{r['memory_efficient']['peak_mib']:>9.0f} {r['memory_ratio']:>6.2f}x {r['forward_memory_ratio']:>5.2f}x "
            f"{r['plain']['step_s']:>8.2f} {r['memory_efficient']['step_s']:>7.2f} {r['time_ratio']:>5.2f}x  "
            f"{'ok' if r['meets_goal'] else 'MISSED'}"
        )
    print(
        "memory, fwd (before the backward pass) and time: memory-efficient / plain; "
        f"goal <= {GOAL_MEMORY}x memory at <= {GOAL_TIME}x time"
    )
    if args.out:
        settings = {k: getattr(args, k) for k in ("device", "repeats", "warmup", "memory_steps", "threads")}
        method = (
            "peak resident memory (ru_maxrss) minus resident memory after building the model and input, "
            "one fresh process per configuration"
            if args.device == "cpu"
            else "torch.cuda.max_memory_allocated minus memory_allocated after building the model and input, "
            "one fresh process per configuration"
        )
        data = {
            "settings": settings,
            "memory_method": method,
            "goal": {"memory_ratio": GOAL_MEMORY, "time_ratio": GOAL_TIME},
            "rows": rows,
        }
        write_result(args.out, data, args.device)
        print(f"wrote {args.out}")
    return 0 if all(r["meets_goal"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
