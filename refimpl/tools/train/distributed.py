"""More than one process: ``torchrun`` starts them, PyTorch's DistributedDataParallel (DDP) keeps them in step.

    torchrun --nproc-per-node 2 -m refimpl train --model resnet18 --dataset folder --data-root my_images

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` in each process;
``from_environment`` reads them and ``start`` joins the process group (NCCL on
CUDA, gloo on the CPU), so that the same command runs alone or under torchrun.

How the work is split, so that N processes train what one would:

- ``--batch-size`` stays the global batch B. Every rank draws the same
  permutation of the training set each epoch and takes its own slice of each
  global batch (B / N images), so 2 processes x B/2 see the batches 1 x B
  sees, and the same learning rate applies. DDP averages the gradients, which
  is the gradient of the global batch's mean loss. With batch normalisation
  the statistics are a rank's own (``--sync-bn`` pools them on CUDA).
- Every rank evaluates the whole test set (the same numbers on every rank).
- The training metrics are averaged over the ranks; a metrics row says how
  many processes ran and the batch each saw.
- Rank 0 alone holds the run folder and its lock and writes the metrics and
  checkpoints; every rank resumes from the same checkpoint, with the same or
  another number of processes (the batches are the global ones either way).
"""

from __future__ import annotations

import datetime
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from refimpl.tools.errors import first_line

__all__ = [
    "TIMEOUT_S",
    "RankLostError",
    "Ranks",
    "broadcast_problem",
    "from_environment",
    "lost_a_rank",
    "mean_over_ranks",
    "peer_reason",
    "start",
    "stop",
]

#: how long a rank waits for the others at a collective before it gives up: a rank that died stops the rest
TIMEOUT_S = 120


class RankLostError(RuntimeError):
    """Another process of the run died, hung past ``TIMEOUT_S`` or was killed; this one stopped too."""


def lost_a_rank(err: RuntimeError) -> bool:
    """Whether ``err`` is the process group's: a peer gone (gloo's reset connection, NCCL's error) or a timeout."""
    text = str(err)
    return isinstance(err, dist.DistError) or any(
        word in text for word in ("Connection reset", "Connection closed", "Timed out", "timed out", "NCCL", "gloo")
    )


def peer_reason(err: RuntimeError) -> str:
    """The process group's error in a few words: gloo's source path and its advice left out."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", first_line(err))  # "[.../pair.cc:545] Read error ..."
    return text.split(". ")[0][:100]


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among those torchrun started."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def main(self) -> bool:
        """Rank 0: it writes the run folder and prints."""
        return self.rank == 0

    def describe(self) -> str:
        return f"{self.world_size} processes (DistributedDataParallel)"


def from_environment() -> Ranks | None:
    """The ranks torchrun set in the environment, or ``None`` for a process on its own.

    Raises:
        ValueError: the variables are there but not integers, or the rank is out of range.
    """
    if "WORLD_SIZE" not in os.environ:
        return None
    try:
        rank, world, local = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except (KeyError, ValueError):
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers (torchrun sets them)") from None
    if not 0 <= rank < world:
        raise ValueError(f"RANK {rank} is outside WORLD_SIZE {world}")
    return None if world == 1 else Ranks(rank, world, local)


def start(ranks: Ranks, device: torch.device) -> torch.device:
    """Join the process group; returns this rank's device (its own GPU on CUDA)."""
    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
    return device


def stop() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def mean_over_ranks(values: list[float], device: torch.device) -> list[float]:
    """The mean of each value over the ranks (every rank gets the same)."""
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return (tensor / dist.get_world_size()).tolist()


def broadcast_problem(problem: str | None) -> str | None:
    """Rank 0's problem (a refused run folder, ...) on every rank; ``None`` where it had none."""
    message = [problem]
    dist.broadcast_object_list(message, src=0)
    return message[0]
