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

- on the CPU, the process's peak resident memory (``VmHWM`` on Linux; on
  Linux ``ru_maxrss`` would include the parent's peak) minus its resident
  memory after building (``VmRSS``);
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
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from refimpl import create_model
from refimpl.densenet import DenseLayer
from refimpl.tools.results import write_result

#: model -> (batch size, image side), as the issue asks
CONFIGS: dict[str, tuple[int, int]] = {"densenet121": (32, 224), "densenet_bc_100": (64, 32)}
GOAL_MEMORY = 0.5  # memory-efficient / plain, at most
GOAL_TIME = 1.35  # memory-efficient / plain, at most
MIB = 2**20


def _proc_status_kib(field: str) -> int | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux), in KiB, or ``None``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rss_now() -> int:
    """Resident memory of this process now, in bytes (Linux); else the peak so far."""
    kib = _proc_status_kib("VmRSS")
    return _rss_peak() if kib is None else kib * 1024


def _rss_peak() -> int:
    """Peak resident memory of this process, in bytes.

    On Linux this is ``VmHWM``, the peak of this program's own memory: unlike
    ``ru_maxrss``, it does not carry over the parent's peak through fork and exec.
    Elsewhere ``ru_maxrss`` (bytes on macOS).
    """
    kib = _proc_status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _reset_rss_peak() -> None:
    """Forget the peak so far (Linux 4.0+), so that building the model cannot set it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


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


def peak_memory(
    model_name: str,
    memory_efficient: bool,
    batch_size: int,
    image_size: int,
    device_name: str,
    steps: int,
    threads: int | None,
) -> dict[str, float]:
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
        _reset_rss_peak()
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


def stored_activations(model_name: str, memory_efficient: bool, image_size: int) -> dict[str, float]:
    """MiB per image that autograd keeps for the backward pass, by part of the network.

    Counts the distinct tensors saved for the backward pass (weights excluded)
    during one forward pass of one image, plus, in memory-efficient mode, the
    layers' k new feature maps that the recomputation needs. This is the
    memory the mode can shrink; the measured peak adds the backward pass's
    temporary memory and the allocator's slack.
    """
    torch.manual_seed(0)
    model = create_model(model_name, memory_efficient=memory_efficient).train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    part = ["stem"]
    for name, child in model.features.named_children():  # conv0 ... pool0, denseblock1, transition1, ..., norm5
        label = "stem" if name.endswith("0") else "dense layers" if name.startswith("denseblock") else "transitions"
        child.register_forward_pre_hook(lambda module, args, label=label: part.__setitem__(0, label))
    saved: dict[int, tuple[str, int]] = {}

    def pack(t: Tensor) -> Tensor:
        ptr = t.untyped_storage().data_ptr()
        if ptr not in weights:
            saved.setdefault(ptr, (part[0], t.untyped_storage().nbytes()))
        return t

    new_maps: list[int] = []
    if memory_efficient:
        for module in model.modules():
            if isinstance(module, DenseLayer):
                module.register_forward_hook(lambda m, args, out: new_maps.append(out.untyped_storage().nbytes()))
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(1, 3, image_size, image_size))
    mib: dict[str, float] = {"stem": 0.0, "dense layers": 0.0, "transitions": 0.0}
    for label, nbytes in saved.values():
        mib[label] = mib.get(label, 0.0) + nbytes / MIB
    mib["dense layers"] += sum(new_maps) / MIB
    mib["total"] = sum(mib.values())
    return mib


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
    parser.add_argument("--repeats", type=int, default=3, help="timed steps of each mode (default: 3)")
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

    jobs = [(name, efficient) for name in args.models for efficient in (False, True)]
    memory = {job: measure_memory(*job, args) for job in tqdm(jobs, desc="memory", unit="run")}
    times = {name: measure_time(name, args) for name in tqdm(args.models, desc="time", unit="model")}
    stored = {(name, efficient): stored_activations(name, efficient, CONFIGS[name][1]) for name, efficient in jobs}
    rows = []
    for name in args.models:
        plain, efficient, timing = memory[name, False], memory[name, True], times[name]
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
                "stored_activations_mib_per_image": {
                    "plain": stored[name, False],
                    "memory_efficient": stored[name, True],
                },
                "stored_activations_ratio": stored[name, True]["total"] / stored[name, False]["total"],
                "forward_memory_ratio": efficient["forward_peak_mib"] / plain["forward_peak_mib"],
                "time_ratio": timing["time_ratio"],
                "meets_goal": memory_ratio <= GOAL_MEMORY and timing["time_ratio"] <= GOAL_TIME,
            }
        )

    print(
        f"{'model':<16} {'batch':>5} {'size':>4} {'plain MiB':>10} {'eff. MiB':>9} {'memory':>7} {'fwd':>6} "
        f"{'stored':>7} {'plain s':>8} {'eff. s':>7} {'time':>6}  goal"
    )
    for r in rows:
        print(
            f"{r['model']:<16} {r['batch_size']:>5} {r['image_size']:>4} {r['plain']['peak_mib']:>10.0f} "
            f"{r['memory_efficient']['peak_mib']:>9.0f} {r['memory_ratio']:>6.2f}x {r['forward_memory_ratio']:>5.2f}x "
            f"{r['stored_activations_ratio']:>6.2f}x {r['plain']['step_s']:>8.2f} "
            f"{r['memory_efficient']['step_s']:>7.2f} {r['time_ratio']:>5.2f}x  {'ok' if r['meets_goal'] else 'MISSED'}"
        )
    print(
        "memory-efficient / plain: memory (peak of the step), fwd (peak before the backward pass), "
        "stored (activations kept for the backward pass, counted), time; "
        f"goal <= {GOAL_MEMORY}x memory at <= {GOAL_TIME}x time"
    )
    for r in rows:
        for mode in ("plain", "memory_efficient"):
            parts = r["stored_activations_mib_per_image"][mode]
            print(f"{r['model']} {mode}, stored MiB per image: " + ", ".join(f"{k} {v:.1f}" for k, v in parts.items()))
    if args.out:
        settings = {k: getattr(args, k) for k in ("device", "repeats", "warmup", "memory_steps", "threads")}
        method = (
            "peak resident memory (VmHWM) minus resident memory (VmRSS) after building the model and input, "
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
