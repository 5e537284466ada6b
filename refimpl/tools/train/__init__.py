"""Training: ``fit`` trains any model; ``python -m refimpl train`` any model of the registry.

    python -m refimpl train --model resnet18 --small-input --dataset cifar10 --download --epochs 5
    python -m refimpl train --model resnet20 --dataset digits --epochs 8 --device cpu --out runs/x

The recipe: SGD with Nesterov momentum 0.9, weight decay 5e-4, label smoothing
0.1, a one-cycle (or cosine) learning rate stepped every batch, random crops and
flips. On CUDA it trains in bfloat16 autocast (float16 with a gradient scaler
where the GPU has no bfloat16) with channels_last tensors, and can use
``torch.compile``; on the CPU it trains in float32. ``--device auto`` takes
CUDA when there is one and says which device it uses.

Full CIFAR-10 training (EXPECTED accuracies from the literature, not measured
by this project):

    # ResNet-20, 0.27M parameters. Expected about 91-92% test accuracy: the
    # paper reports 91.25% (8.75% error, 164 epochs of batch 128, lr 0.1).
    python -m refimpl train --model resnet20 --dataset cifar10 --epochs 160 --batch-size 128 --lr 0.1
    # ResNet-18 with the 3x3 stem (--small-input). Expected about 95%: 200
    # epochs of batch 128, lr 0.1 and cosine decay are reported at 93-95%
    # (e.g. kuangliu/pytorch-cifar).
    python -m refimpl train --model resnet18 --small-input --dataset cifar10 --epochs 200 --batch-size 128 \\
        --lr 0.1 --schedule cosine

On a GPU, the recommended recipe trains at batch 512 (``CUDA_BATCH_SIZE``)
with the learning rate scaled with it; the step is replayed from a CUDA graph
with the fused SGD (``--cuda-graph``, ``--fused``, both on by default on
CUDA). EXPECTED, not measured by this project: about 94% for ResNet-18 with the
3x3 stem in 30 epochs; one-cycle schedules reach in tens of epochs what step
schedules reach in hundreds (Smith and Topin, arXiv:1708.07120):

    python -m refimpl train --model resnet18 --small-input --dataset cifar10 --epochs 30 --batch-size 512 \\
        --lr 0.4 --device cuda

From Python, ``fit`` trains any ``nn.Module`` (not only the registry's) on a
(train, test) pair of loaders with a ``Recipe``, writing into a run folder or,
for a notebook, nothing; ``on_step`` hands out the loss of every step:

    history = fit(resnet20(), make_loaders("digits", 32, torch.device("cpu")), Recipe(epochs=3), out=None)

The command (``command``: ``TrainConfig``, ``resolve_config``, ``build_model``,
``train``; its flags in ``refimpl.tools.cli``) builds the model, the data and
the device from its flags and trains through the same driver as ``fit``,
``run_training``. It also fine-tunes (``--weights``, published or a file) and
trains on a folder of your own images (``--dataset folder``), alone or
under ``torchrun`` on several processes. The modules, by job:

- ``settings``: ``RULES``, what every setting accepts, and ``Recipe``;
- ``step``: the device, its precision and layout, the optimiser and its schedule,
  and ``TrainStep``, one step eager or replayed from a CUDA graph;
- ``loop``: ``train_epoch`` and ``evaluate`` (also used by
  ``benchmarks/train_throughput.py``), and the divergence checks;
- ``checkpoint``: ``save_checkpoint`` and ``load_checkpoint``, which refuses a
  damaged, foreign, edited or diverged checkpoint;
- ``run_folder``: the run folder (created, locked, never silently reused) and
  its ``metrics.jsonl``;
- ``signals``: Ctrl-C and SIGTERM, which stop a run between its saves;
- ``fitting``: ``fit`` and ``run_training``, which train epoch by epoch, check
  each epoch for divergence, write the metrics and checkpoints, and resume;
- ``command``: the command's run (its settings, its model and its data);
- ``distributed``: more than one process, started by ``torchrun``, kept in
  step by DistributedDataParallel.
"""

from __future__ import annotations

from refimpl.tools.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from refimpl.tools.train.fitting import Loader, fit, run_training
from refimpl.tools.train.loop import EpochStats, NonFiniteLossError, evaluate, train_epoch
from refimpl.tools.train.run_folder import CHECKPOINT, METRICS, RunFolderError, open_run_folder
from refimpl.tools.train.settings import CUDA_BATCH_SIZE, MAX_LR, RULES, Recipe, Rule, setting_problems
from refimpl.tools.train.signals import Stopped, TrainingInterrupted, stop_on_signals
from refimpl.tools.train.step import (
    TrainStep,
    describe_device,
    fast_settings,
    make_optimizer,
    resolve_device,
    step_settings,
)

__all__ = [
    "CHECKPOINT",
    "CUDA_BATCH_SIZE",
    "MAX_LR",
    "METRICS",
    "RULES",
    "CheckpointError",
    "EpochStats",
    "Loader",
    "NonFiniteLossError",
    "Recipe",
    "Rule",
    "RunFolderError",
    "Stopped",
    "TrainStep",
    "TrainingInterrupted",
    "describe_device",
    "evaluate",
    "fast_settings",
    "fit",
    "load_checkpoint",
    "make_optimizer",
    "open_run_folder",
    "resolve_device",
    "run_training",
    "save_checkpoint",
    "setting_problems",
    "step_settings",
    "stop_on_signals",
    "train_epoch",
]
