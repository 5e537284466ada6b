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

The peer: for the models torchvision has (DenseNet-121, ...), torchvision's
own ``memory_efficient=True`` runs in the same way beside them, with the same
weights, and is reported as a third mode (memory and time against the same
plain mode).

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
import torchvision
from torch import Tensor
from tqdm import tqdm

from refimpl import create_model
from refimpl.densenet import DenseLayer
from refimpl.tools.registry import get_spec
from refimpl.tools.results import write_result

#: model -> (batch size, image side), as the issue asks
CONFIGS: dict[str, tuple[int, int]] = {"densenet121": (32, 224), "densenet_bc_100": (64, 32)}
GOAL_MEMORY = 0.5  # memory-efficient / plain, at most
GOAL_TIME = 1.35  # memory-efficient / plain, at most
MIB = 2**20
#: the modes compared: refimpl plain, refimpl memory-efficient, torchvision's memory-efficient (where it has the model)
MODES = ("plain", "memory_efficient", "torchvision_memory_efficient")


def modes(model_name: str) -> tuple[str, ...]:
    """The modes measured for ``model_name``: torchvision's only where torchvision has the model."""
    return MODES if get_spec(model_name).reference.source == "torchvision" else MODES[:2]


def build(model_name: str, mode: str) -> torch.nn.Module:
    """A freshly initialised model in ``mode`` (the caller loads common weights where it compares)."""
    if mode == "torchvision_memory_efficient":
        return getattr(torchvision.models, model_name)(memory_efficient=True)
    return create_model(model_name, memory_efficient=mode == "memory_efficient")


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
    mode: str,
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
    model = build(model_name, mode).to(device).train()
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


def measure_memory(model_name: str, mode: str, args: argparse.Namespace) -> dict[str, float]:
    """Run ``peak_memory`` for one configuration in a fresh Python process."""
    batch_size, image_size = CONFIGS[model_name]
    spec = [model_name, mode, batch_size, image_size, args.device, args.memory_steps, args.threads]
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{model_name} ({mode}) failed:\n{result.stderr}")
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


def measure_time(model_name: str, args: argparse.Namespace) -> dict[str, dict[str, float | list[float]]]:
    """Seconds per step of every mode, same weights, same input, in turn step by step.

    Taking turns (and rotating who goes first) lets any drift in the machine's
    speed hit every mode; each mode's ratio to plain is the median of the
    per-round ratios.
    """
    device = torch.device(args.device)
    batch_size, image_size = CONFIGS[model_name]
    torch.manual_seed(0)
    models = {mode: build(model_name, mode).to(device).train() for mode in modes(model_name)}
    for model in models.values():
        model.load_state_dict(models["plain"].state_dict())
    x, target = _batch(models["plain"], batch_size, image_size, device)

    def timed(model: torch.nn.Module) -> float:
        _sync(device)
        start = time.perf_counter()
        step(model, x, target)
        _sync(device)
        return time.perf_counter() - start

    for _ in range(args.warmup):
        for model in models.values():
            timed(model)
    seconds: dict[str, list[float]] = {mode: [] for mode in models}
    order = list(models)
    for i in range(args.repeats):
        for mode in order[i % len(order) :] + order[: i % len(order)]:
            seconds[mode].append(timed(models[mode]))
    plain = seconds["plain"]
    return {
        mode: {
            "step_s": statistics.median(s),
            "steps_s": s,
            "time_ratio": statistics.median(a / p for a, p in zip(s, plain, strict=True)),
        }
        for mode, s in seconds.items()
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

    jobs = [(name, mode) for name in args.models for mode in modes(name)]
    memory = {job: measure_memory(*job, args) for job in tqdm(jobs, desc="memory", unit="run")}
    times = {name: measure_time(name, args) for name in tqdm(args.models, desc="time", unit="model")}
    stored = {
        (name, efficient): stored_activations(name, efficient, CONFIGS[name][1])
        for name in args.models
        for efficient in (False, True)
    }
    rows = []
    for name in args.models:
        batch_size, image_size = CONFIGS[name]
        plain = memory[name, "plain"]
        row: dict = {"model": name, "batch_size": batch_size, "image_size": image_size}
        for mode in modes(name):
            timing = times[name][mode]
            row[mode] = {**memory[name, mode], "step_s": timing["step_s"], "steps_s": timing["steps_s"]}
            if mode != "plain":
                row[mode]["memory_ratio"] = memory[name, mode]["peak_mib"] / plain["peak_mib"]
                row[mode]["forward_memory_ratio"] = memory[name, mode]["forward_peak_mib"] / plain["forward_peak_mib"]
                row[mode]["time_ratio"] = timing["time_ratio"]
        ours = row["memory_efficient"]
        row["memory_ratio"], row["time_ratio"] = ours["memory_ratio"], ours["time_ratio"]
        row["forward_memory_ratio"] = ours["forward_memory_ratio"]
        row["stored_activations_mib_per_image"] = {"plain": stored[name, False], "memory_efficient": stored[name, True]}
        row["stored_activations_ratio"] = stored[name, True]["total"] / stored[name, False]["total"]
        row["meets_goal"] = row["memory_ratio"] <= GOAL_MEMORY and row["time_ratio"] <= GOAL_TIME
        if "torchvision_memory_efficient" in row:
            row["faster_than_torchvision"] = ours["step_s"] < row["torchvision_memory_efficient"]["step_s"]
        rows.append(row)

    print(
        f"{'model':<16} {'batch':>5} {'size':>4} {'mode':<29} {'peak MiB':>9} {'memory':>7} {'fwd':>6} "
        f"{'step s':>7} {'time':>6}"
    )
    for r in rows:
        for mode in modes(r["model"]):
            m = r[mode]
            ratios = (
                f"{m['memory_ratio']:>6.2f}x {m['forward_memory_ratio']:>5.2f}x"
                if mode != "plain"
                else f"{'':>7} {'':>6}"
            )
            time_ratio = f"{m['time_ratio']:>5.2f}x" if mode != "plain" else ""
            print(
                f"{r['model']:<16} {r['batch_size']:>5} {r['image_size']:>4} {mode:<29} {m['peak_mib']:>9.0f} "
                f"{ratios} {m['step_s']:>7.3f} {time_ratio:>6}"
            )
        verdict = "ok" if r["meets_goal"] else "MISSED"
        if "faster_than_torchvision" in r:
            verdict += f"; {'faster' if r['faster_than_torchvision'] else 'NOT faster'} than torchvision's mode"
        print(
            f"{r['model']}: refimpl memory-efficient {r['memory_ratio']:.2f}x memory, {r['time_ratio']:.2f}x time "
            f"(goal <= {GOAL_MEMORY}x at <= {GOAL_TIME}x): {verdict}"
        )
    print(
        "ratios to plain: memory (peak of the step), fwd (peak before the backward pass), time (median of per-round ratios)"
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
