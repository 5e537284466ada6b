"""The training step: the device, its precision and layout, SGD and its schedule, and ``TrainStep``.

``TrainStep`` runs one step (forward under autocast, loss, backward, optimiser
step) eagerly, or replays it from a CUDA graph; ``step_settings`` decides
which, and whether SGD runs as one fused kernel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from refimpl.tools.train.settings import Recipe

__all__ = ["TrainStep", "describe_device", "fast_settings", "make_optimizer", "resolve_device", "step_settings"]


def resolve_device(name: str) -> torch.device:
    """``"auto"``, ``"cpu"`` or ``"cuda"`` as a device; ``auto`` takes CUDA when present.

    Raises:
        ValueError: ``"cuda"`` was asked for and there is no CUDA device.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use --device cpu or auto)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r}; known: auto, cpu, cuda")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """``"cpu"``, or ``"cuda (NAME)"`` with the GPU's name: for the metrics and the command's first line."""
    return f"cuda ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "cpu"


def fast_settings(device: torch.device) -> tuple[torch.dtype | None, torch.memory_format]:
    """The autocast dtype (``None`` for float32) and memory layout used on ``device``.

    On CUDA: bfloat16 (or float16 where the GPU lacks bfloat16) and
    channels_last, which lets cuDNN use tensor cores without transposes. On the
    CPU: float32 and the usual layout, since most CPUs are no faster otherwise.
    """
    if device.type != "cuda":
        return None, torch.contiguous_format
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dtype, torch.channels_last


def step_settings(
    device: torch.device, amp_dtype: torch.dtype | None, compile: bool, cuda_graph: bool | None, fused: bool | None
) -> tuple[bool, bool]:
    """Whether to record the step in a CUDA graph and whether to fuse SGD; ``None`` picks the fastest that works.

    On CUDA: a graph (which needs the fused SGD) unless the model is compiled or
    trains in float16 (the gradient scaler checks on the host). On the CPU:
    neither.

    Raises:
        ValueError: a graph asked for off CUDA, in float16, with ``compile``, or with ``fused=False``.
    """
    cuda = device.type == "cuda"
    if cuda_graph is None:
        cuda_graph = cuda and amp_dtype != torch.float16 and not compile and fused is not False
    if cuda_graph:
        problems = {
            "it needs a CUDA device": not cuda,
            "float16 training needs the gradient scaler, which checks on the host": amp_dtype == torch.float16,
            "a compiled model cannot be recorded here; use one or the other": compile,
            "the graph needs the fused SGD (its learning rate is a tensor)": fused is False,
        }
        problem = next((why for why, found in problems.items() if found), None)
        if problem:
            raise ValueError(f"--cuda-graph: {problem}")
    return cuda_graph, cuda_graph or (cuda if fused is None else fused)


def make_optimizer(
    model: nn.Module, recipe: Recipe, total_steps: int, fused: bool = False
) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.LRScheduler]:
    """SGD with Nesterov momentum and weight decay, and its per-step schedule over ``total_steps``.

    Both schedules work for any ``total_steps`` >= 1. One-cycle warms up from
    lr / 25 to lr over the first 25% of the steps and anneals to nearly 0
    (PyTorch's ``OneCycleLR``); cosine anneals from lr to 0. The momentum
    stays ``recipe.momentum`` throughout.

    Args:
        model: whose parameters are optimised.
        recipe: lr, momentum, weight decay and schedule.
        total_steps: steps the schedule spans.
        fused: one fused kernel per step for all parameters (``fused=True``)
            instead of a few ``foreach`` kernels; the learning rate is then a
            tensor on the parameters' device, which the scheduler updates in
            place, so that a step captured in a CUDA graph reads the current one.

    Raises:
        ValueError: ``total_steps`` below 1, or an unknown schedule.
    """
    if total_steps < 1:
        raise ValueError(f"a schedule needs at least one step, got total_steps={total_steps}")
    device = next(model.parameters()).device
    lr = torch.tensor(recipe.lr, device=device) if fused else recipe.lr
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=lr,
        momentum=recipe.momentum,
        nesterov=True,
        weight_decay=recipe.weight_decay,
        fused=fused or None,
    )
    if recipe.schedule == "onecycle":  # warm up for 25% of the steps, then anneal to nearly 0
        pct_start = 0.25
        if pct_start * total_steps == 1:
            # OneCycleLR's warm-up spans steps 0 .. pct_start * total_steps - 1, here step 0 alone, and
            # interpolating within it divides 0 by 0 (total_steps = 4). A hair longer, it is one step
            # long: step 0 starts at lr / 25, as for any longer run, and the anneal takes the rest.
            pct_start *= 1 + 1e-6
        # the momentum stays fixed (no cycling): a CUDA graph holds it as a constant
        scheduler: torch.optim.lr_scheduler.LRScheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=recipe.lr, total_steps=total_steps, pct_start=pct_start, cycle_momentum=False
        )
    elif recipe.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    else:
        raise ValueError(f"unknown schedule {recipe.schedule!r}; known: onecycle, cosine")
    return optimizer, scheduler


class TrainStep:
    """One training step, ``step(images, labels) -> (loss, correct)``: eager, or replayed from a CUDA graph.

    Eager, a step is the usual forward (under autocast), loss, backward and
    optimiser step. At batch 64 a GPU finishes a small network's kernels
    faster than Python launches them; a CUDA graph records the whole step once
    and then launches it as one unit. Replaying it is the same arithmetic on
    the same buffers: the batch is copied into fixed input tensors, and the
    learning rate lives in a tensor the scheduler updates in place.

    The graph is recorded on the ``warmup + 1``-th call; the calls before it
    run eagerly on a side stream (cuDNN picks its algorithms, the optimiser
    creates its momentum buffers). A batch of another shape runs eagerly.

    Args:
        model: in training mode.
        optimizer: stepped every call. A graph needs one whose step reads the
            learning rate from a tensor without a host synchronisation: SGD
            with ``fused=True`` and a tensor ``lr`` (``make_optimizer(..., fused=True)``).
        scaler: the gradient scaler (float16 only). A graph cannot hold its
            host-side checks, so it must be disabled for one.
        amp_dtype: autocast dtype, or ``None`` for float32.
        label_smoothing: of the cross-entropy loss.
        cuda_graph: record and replay the step in a CUDA graph.
        warmup: eager calls before the graph is recorded.

    Raises:
        ValueError: ``cuda_graph`` with a model off CUDA, an enabled scaler, or
            an optimiser whose learning rate is not a tensor.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        amp_dtype: torch.dtype | None = None,
        label_smoothing: float = 0.0,
        cuda_graph: bool = False,
        warmup: int = 3,
    ) -> None:
        self.model, self.optimizer, self.scaler = model, optimizer, scaler
        self.amp_dtype, self.label_smoothing = amp_dtype, label_smoothing
        self.device = next(model.parameters()).device
        if cuda_graph:
            if self.device.type != "cuda":
                raise ValueError(f"a CUDA graph needs the model on a CUDA device, not {self.device.type}")
            if scaler.is_enabled():
                raise ValueError("a CUDA graph cannot hold the float16 gradient scaler; train in bfloat16")
            if not all(isinstance(group["lr"], Tensor) for group in optimizer.param_groups):
                raise ValueError("a CUDA graph needs the learning rate as a tensor: make_optimizer(..., fused=True)")
        self.cuda_graph, self.warmup = cuda_graph, warmup
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[Tensor, ...] = ()  # images, labels, loss, correct: the graph's inputs and outputs

    def eager(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Forward, loss, backward and optimiser step: (B, 3, H, W), (B,) -> loss (), correct ()."""
        # no autocast cache: a CUDA graph must not keep casts of the weights from the step it recorded
        with torch.autocast(self.device.type, self.amp_dtype, enabled=self.amp_dtype is not None, cache_enabled=False):
            logits = self.model(x)  # (B, classes)
            loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()  # the scaler is a no-op unless training in float16
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach(), (logits.argmax(1) == y).sum()

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """One step on (B, 3, H, W) images and (B,) labels: loss () and correct () as device tensors."""
        self.calls += 1
        if not self.cuda_graph or (self.static and self.static[0].shape != x.shape):
            return self.eager(x, y)
        if self.calls <= self.warmup:  # on a side stream, as the graph will run
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                out = self.eager(x, y)
            torch.cuda.current_stream(self.device).wait_stream(side)
            return out
        if self.graph is None:  # record: nothing runs yet
            images, labels = x.clone(), y.clone()
            self.graph = torch.cuda.CUDAGraph()
            self.optimizer.zero_grad(set_to_none=True)  # the gradients are then allocated in the graph's memory
            with torch.cuda.graph(self.graph):
                loss, correct = self.eager(images, labels)
            self.static = (images, labels, loss, correct)
        images, labels, loss, correct = self.static
        images.copy_(x)
        labels.copy_(y)
        self.graph.replay()
        return loss.clone(), correct.clone()  # the next replay overwrites the static outputs
