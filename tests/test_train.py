"""Training: ``fit`` on any model, metrics and checkpoints, exact resume, failures as one line, real learning."""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from refimpl.tools import train as train_module
from refimpl.tools.cli import main
from refimpl.tools.data import make_loaders
from refimpl.tools.registry import get_spec
from refimpl.tools.train import (
    CheckpointError,
    Recipe,
    RunFolderError,
    TrainStep,
    command,
    fit,
    fitting,
    make_optimizer,
    run_folder,
)
from refimpl.tools.train.command import TrainConfig, build_model, resolve_config, train

TIMING = {"images_per_s", "seconds"}  # the only metrics that may differ between identical runs


def smoke(out: Path, **overrides: object) -> TrainConfig:
    """A few steps of ResNet-20 on FakeData, on the CPU."""
    settings = {"model": "resnet20", "dataset": "fake", "epochs": 1, "batch_size": 16, "max_steps": 2}
    return TrainConfig(**{**settings, "device": "cpu", "out": str(out), "workers": 0, **overrides})


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_one_epoch_writes_metrics_and_a_checkpoint(tmp_path, capsys) -> None:
    last = train(smoke(tmp_path, max_steps=3))
    (row,) = metrics(tmp_path)
    assert row == last
    assert row["epoch"] == 1 and row["device"] == "cpu" and row["precision"] == "float32"
    assert row["test_images"] == 3 * 16 and 0 <= row["train_acc"] <= 1 and row["images_per_s"] > 0
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and state["config"]["model"] == "resnet20" and state["history"] == [row]
    model = build_model("resnet20")
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(state["model"])  # strict: exactly the model's parameters and buffers
    assert not torch.equal(model.fc.weight, fresh["fc.weight"])  # it trained
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    assert "device: cpu" in capsys.readouterr().out


@pytest.mark.parametrize("loader", ["device", "dataloader"])
def test_an_interrupted_run_resumes_exactly(tmp_path, monkeypatch, loader: str) -> None:
    config = smoke(tmp_path / "whole", epochs=3, loader=loader)
    whole = train(config)
    weights = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)["model"]

    evaluate = train_module.evaluate
    calls = []

    def killed_in_epoch_2(*args, **kwargs):  # after epoch 2's training steps, before its checkpoint
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(fitting, "evaluate", killed_in_epoch_2)
    out = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):
        train(smoke(out, epochs=3, loader=loader))
    assert [row["epoch"] for row in metrics(out)] == [1]
    monkeypatch.setattr(fitting, "evaluate", evaluate)
    torch.manual_seed(123)  # a resumed run must not depend on the state it starts in
    resumed = train(*resolve_config(resume="", out=str(out), device="cpu"))

    assert [row["epoch"] for row in metrics(out)] == [1, 2, 3]
    for a, b in zip(metrics(tmp_path / "whole"), metrics(out), strict=True):
        assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert resumed["test_loss"] == whole["test_loss"]
    final = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(weights[k], final[k]) for k in weights)


def test_a_resumed_run_reads_its_checkpoint_once(tmp_path, monkeypatch) -> None:
    train(smoke(tmp_path, epochs=3))
    load = train_module.load_checkpoint
    paths = []

    def counted(path):
        paths.append(path)
        return load(path)

    monkeypatch.setattr(command, "load_checkpoint", counted)
    assert main(["train", "--resume", "--out", str(tmp_path), "--device", "cpu"]) == 0
    assert paths == [tmp_path / "checkpoint.pt"]


def test_resume_refuses_a_different_recipe(tmp_path) -> None:
    train(smoke(tmp_path))
    with pytest.raises(CheckpointError, match="differs: epochs 5 \\(checkpoint: 1\\)"):
        train(*resolve_config(resume=str(tmp_path / "checkpoint.pt"), epochs=5, device="cpu"))


class _NanAtStep(nn.Module):
    """Wraps a model; its output becomes NaN from the given training step on."""

    def __init__(self, model: nn.Module, step: int) -> None:
        super().__init__()
        self.model, self.step, self.calls = model, step, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        out = self.model(x)
        return out * float("nan") if self.training and self.calls >= self.step else out


def test_a_non_finite_loss_stops_naming_the_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(command, "build_model", lambda *a: _NanAtStep(build_model(*a), step=5))
    args = ["train", "--model", "resnet20", "--dataset", "fake", "--epochs", "3", "--batch-size", "16"]
    assert main([*args, "--max-steps", "3", "--device", "cpu", "--workers", "0", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the progress bars come before
    assert err.startswith("python -m refimpl: error: the loss is nan at step 5 (epoch 2);"), err
    assert f"last good checkpoint: {tmp_path / 'checkpoint.pt'} (epoch 1)" in err
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert [row["epoch"] for row in metrics(tmp_path)] == [1]


def test_fit_trains_any_module_and_hands_out_every_step_loss(tmp_path, monkeypatch) -> None:
    """A model outside the registry, no run folder, and a run that stops part of the way through an epoch."""
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    data = make_loaders("fake", 16, torch.device("cpu"), num_workers=0)
    steps: list[tuple[int, float]] = []
    recipe = Recipe(epochs=5, max_steps=3, total_steps=5, log_every=2)
    history = fit(model, data, recipe, out=None, on_step=lambda step, loss: steps.append((step, loss)), progress=False)
    assert [row["epoch"] for row in history] == [1, 2]  # 3 steps, then 2: total_steps ends the run
    assert [step for step, _ in steps] == [1, 2, 3, 4, 5]
    assert history[0]["train_loss"] == pytest.approx(sum(loss for _, loss in steps[:3]) / 3)
    assert history[1]["train_loss"] == pytest.approx(sum(loss for _, loss in steps[3:]) / 2)
    assert history[0]["test_images"] == 3 * 16 and history[0]["device"] == "cpu"
    assert list(tmp_path.iterdir()) == []  # out=None writes nothing


def test_a_type_error_inside_a_builder_is_not_taken_for_a_missing_option(monkeypatch) -> None:
    def broken(**kwargs: object) -> nn.Module:
        raise TypeError("boom")

    spec = dataclasses.replace(get_spec("resnet18"), builder=broken)
    monkeypatch.setattr(command, "get_spec", lambda name: spec)
    with pytest.raises(TypeError, match="boom"):
        build_model("resnet18", small_input=True)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """Files that ``--resume`` must refuse, each with what the one-line refusal says."""
    folder = tmp_path_factory.mktemp("checkpoints")
    garbage = folder / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    truncated = folder / "truncated.pt"
    torch.save({"format": "refimpl-train-checkpoint", "model": torch.ones(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    foreign = folder / "foreign.pt"
    torch.save(build_model("resnet20").state_dict(), foreign)
    code = folder / "code.pt"
    code.write_bytes(pickle.dumps(Path("x"), protocol=2))  # an arbitrary object, refused by weights_only
    train(smoke(folder / "run"))
    state = torch.load(folder / "run" / "checkpoint.pt", weights_only=True)
    diverged = {k: v.clone() for k, v in state["model"].items()}
    diverged["layer3.2.bn2.running_var"][0] = float("inf")  # what an older version saved after divergence
    config, optimizer = state["config"], state["optimizer"]
    edits: dict[str, tuple[dict, str]] = {
        "incomplete": ({k: v for k, v in state.items() if k != "optimizer"}, "lacks optimizer"),
        "mismatched": (
            {**state, "model": build_model("resnet32").state_dict()},
            "does not fit this run: Error(s) in loading state_dict for CifarResNet: Unexpected",
        ),
        "unknown entry": ({**state, "note": "hi"}, "has unknown entries: note"),
        "unknown setting": ({**state, "config": {**config, "frob": 1}}, "has unknown settings: frob"),
        "epoch as text": ({**state, "epoch": "1"}, "has str '1' as its 'epoch', expected int"),
        "optimizer as None": ({**state, "optimizer": None}, "has NoneType None as its 'optimizer', expected dict"),
        "epoch without history": ({**state, "history": []}, "has epoch 1 but a history of 0 epochs"),
        "epochs as text": (
            {**state, "config": {**config, "epochs": "3"}},
            "has bad settings: epochs: expected a positive integer, got '3'",
        ),
        "batch of zero": (
            {**state, "config": {**config, "batch_size": 0}},
            "batch_size: expected an integer of at least 2",
        ),
        "unknown data set": (
            {**state, "config": {**config, "dataset": "imagenet"}},
            "dataset: expected one of cifar10, digits, fake, folder, got 'imagenet'",
        ),
        "epoch beyond --epochs": (
            {**state, "epoch": 7, "history": [{**state["history"][0], "epoch": i} for i in range(1, 8)]},
            "is at epoch 7, beyond the run's last, 1 (--epochs)",
        ),
        "diverged": ({**state, "model": diverged}, "holds non-finite weights (layer3.2.bn2.running_var)"),
        # edits that torch.load and the types above let through, and that failed at every resume
        "tensor in history": (
            {**state, "history": [{**state["history"][0], "test_acc": torch.tensor(0.5)}]},
            "has a history that no run writes (row 1 holds test_acc of a type JSON has not)",
        ),
        "row without keys": ({**state, "history": [{}]}, "has a history that no run writes (row 1 lacks epoch,"),
        "lr as text": (
            {**state, "optimizer": {**optimizer, "param_groups": [{**optimizer["param_groups"][0], "lr": "abc"}]}},
            "has an optimizer whose lr is 'abc', not a number",
        ),
        "schedule as text": (
            {**state, "scheduler": {**state["scheduler"], "base_lrs": ["abc"]}},
            "has a scheduler whose base_lrs is ['abc'], not a number",
        ),
    }
    made = {}
    for kind, (edited, expected) in edits.items():
        path = folder / f"{kind.replace(' ', '_')}.pt"
        torch.save(edited, path)
        made[kind] = (path, expected)
    return {
        "garbage": (garbage, "cannot read checkpoint"),
        "truncated": (truncated, "cannot read checkpoint"),
        "foreign": (foreign, "is not a refimpl training checkpoint"),
        "code": (code, "cannot read checkpoint"),
        "missing": (folder / "missing.pt", "no checkpoint at"),
        "folder": (folder / "run", "it is a folder (continue its run with --resume --out"),
        **made,
    }


UNUSABLE = [
    "garbage",
    "truncated",
    "foreign",
    "code",
    "missing",
    "folder",
    "incomplete",
    "mismatched",
    "unknown entry",
    "unknown setting",
    "epoch as text",
    "optimizer as None",
    "epoch without history",
    "epochs as text",
    "batch of zero",
    "unknown data set",
    "epoch beyond --epochs",
    "diverged",
    "tensor in history",
    "row without keys",
    "lr as text",
    "schedule as text",
]


@pytest.mark.parametrize("kind", UNUSABLE)
def test_an_unusable_checkpoint_is_one_line_and_exit_2(checkpoints, capsys, kind: str) -> None:
    path, expected = checkpoints[kind]
    assert main(["train", "--resume", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert expected in err[-1] and str(path) in err[-1] and "Traceback" not in "".join(err), err
    assert len(err) == 1, err


def test_an_unreadable_checkpoint_names_the_reason(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"x")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(torch, "load", denied)  # root reads every file: the error is injected
    assert main(["train", "--resume", str(path), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == f"python -m refimpl: error: cannot read checkpoint {path}: Permission denied\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--epochs", "0"], "expected a positive integer, got '0'"),
        (["--lr", "-0.1"], "argument --lr: expected a number in (0, 10], got '-0.1'"),
        (["--lr", "nan"], "argument --lr: expected a number in (0, 10], got 'nan'"),
        (["--lr", "1e300"], "argument --lr: expected a number in (0, 10], got '1e300'"),  # overflowed in SGD
        (["--seed", "-1"], "argument --seed: expected an integer from 0 to 2**32 - 1, got '-1'"),
        (["--seed", "4294967296"], "argument --seed: expected an integer from 0 to 2**32 - 1, got '4294967296'"),
        (["--batch-size", "1"], "argument --batch-size: expected an integer of at least 2 (batch normalisation"),
        (["--max-steps", "0"], "argument --max-steps: expected a positive integer, got '0'"),
        (["--workers", "-1"], "expected a non-negative integer"),
        (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
        (["--model", "resnt20"], "unknown model 'resnt20'; did you mean resnet20"),
        (["--model", "resnet20", "--small-input"], "resnet20 does not take --small-input"),
        (["--resume"], "--resume without a file needs --out DIR"),
        (["--cuda-graph"], "--cuda-graph: it needs a CUDA device"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], expected: str, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        code = main(["train", "--device", "cpu", *args])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []  # no run folder is left behind


@pytest.mark.skipif(torch.cuda.is_available(), reason="there is a CUDA device here")
def test_device_cuda_without_one_is_one_line(capsys) -> None:
    assert main(["train", "--device", "cuda"]) == 2
    assert "--device cuda: no CUDA device is available" in capsys.readouterr().err


def test_missing_cifar10_from_the_command_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m refimpl: error: CIFAR-10 not found (or incomplete) in {tmp_path}")
    assert "--download" in err and "cifar-10-python.tar.gz" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # the default run folder, runs/resnet20-cifar10, was removed again


def test_the_command_shows_progress_and_a_summary(tmp_path, capsys) -> None:
    args = ["--dataset", "fake", "--epochs", "1", "--max-steps", "2", "--batch-size", "8", "--workers", "0"]
    assert main(["train", "--model", "resnet20", *args, "--device", "auto", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    for shown in ("loss=", "acc=", "img_s="):
        assert shown in captured.err  # tqdm's postfix
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"device: {device}" in captured.out and "(--device auto" in captured.out
    assert "resnet20 on fake, 1 epoch on" in captured.out and "test accuracy" in captured.out


def test_resnet20_learns_digits(tmp_path) -> None:
    """Real handwritten digits, no network: at least 90% test accuracy in two epochs (97% when last measured)."""
    config = TrainConfig(model="resnet20", dataset="digits", epochs=2, batch_size=32, device="cpu", out=str(tmp_path))
    last = train(config)
    assert last["test_images"] == 360
    assert last["test_acc"] >= 0.90, last


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is available")
def test_one_epoch_of_resnet18_in_bfloat16_channels_last_on_cifar_format_data(cifar10_root, tmp_path) -> None:
    root, _ = cifar10_root
    config = TrainConfig(
        model="resnet18",
        small_input=True,
        dataset="cifar10",
        data_root=str(root),
        epochs=1,
        batch_size=8,
        device="cuda",
        out=str(tmp_path / "run"),
    )
    last = train(config)
    assert last["device"].startswith("cuda") and last["channels_last"]
    assert last["precision"] == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    assert last["test_images"] == 4 and torch.isfinite(torch.tensor([last["train_loss"], last["test_loss"]])).all()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["model"]["conv1.weight"].is_contiguous(memory_format=torch.channels_last)


# --- the training step: eager, fused, recorded in a CUDA graph -------------------------------------------------


def _steps(device: str, fused: bool, cuda_graph: bool, n: int = 6) -> tuple[list[float], nn.Module, torch.optim.SGD]:
    """``n`` steps of ResNet-20 on fixed random batches, with the one-cycle schedule; the losses, model, optimiser."""
    torch.manual_seed(0)
    model = build_model("resnet20").to(device)
    optimizer, scheduler = make_optimizer(model, Recipe(lr=0.05), n, fused=fused)
    scaler = torch.amp.GradScaler(device, enabled=False)
    step = TrainStep(model, optimizer, scaler, label_smoothing=0.1, cuda_graph=cuda_graph)
    generator = torch.Generator().manual_seed(1)
    losses = []
    model.train()
    for _ in range(n):
        x = torch.randn(8, 3, 32, 32, generator=generator).to(device)
        y = torch.randint(0, 10, (8,), generator=generator).to(device)
        loss, correct = step(x, y)
        scheduler.step()
        losses.append(loss.item())
        assert 0 <= correct.item() <= 8
    return losses, model, optimizer


def _assert_close_runs(a: tuple, b: tuple) -> None:
    (losses_a, model_a, opt_a), (losses_b, model_b, opt_b) = a, b
    torch.testing.assert_close(torch.tensor(losses_b), torch.tensor(losses_a), rtol=1e-4, atol=1e-5)
    for (name, x), y in zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True):
        torch.testing.assert_close(y.cpu(), x.cpu(), rtol=1e-4, atol=1e-5, msg=name)
    assert float(opt_b.param_groups[0]["lr"]) == pytest.approx(float(opt_a.param_groups[0]["lr"]))


def test_the_fused_step_with_a_tensor_lr_trains_as_the_eager_one() -> None:
    """What a CUDA graph needs (fused SGD, the lr a tensor the scheduler fills) changes no number, on the CPU."""
    eager, fused = _steps("cpu", fused=False, cuda_graph=False), _steps("cpu", fused=True, cuda_graph=False)
    assert isinstance(fused[2].param_groups[0]["lr"], torch.Tensor)
    assert not isinstance(eager[2].param_groups[0]["lr"], torch.Tensor)
    assert eager[0][0] != eager[0][-1]  # it trained
    _assert_close_runs(eager, fused)


def test_the_momentum_stays_the_recipes() -> None:
    """One-cycle would cycle SGD's momentum (0.85 .. 0.95); the recipe's is fixed, which a CUDA graph needs."""
    _, _, optimizer = _steps("cpu", fused=True, cuda_graph=False, n=4)
    assert optimizer.param_groups[0]["momentum"] == Recipe().momentum


def test_a_cuda_graph_is_refused_off_cuda_and_with_a_float_lr() -> None:
    model = build_model("resnet20")
    optimizer, _ = make_optimizer(model, Recipe(), 4)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    with pytest.raises(ValueError, match="needs the model on a CUDA device"):
        TrainStep(model, optimizer, scaler, cuda_graph=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is available")
def test_the_cuda_graph_step_trains_as_the_eager_one() -> None:
    """Recorded after 3 eager steps, then replayed: the same losses and weights as 6 eager steps (float32)."""
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    eager, graphed = _steps("cuda", fused=True, cuda_graph=False), _steps("cuda", fused=True, cuda_graph=True)
    _assert_close_runs(eager, graphed)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is available")
def test_fit_records_a_cuda_graph_by_default_on_cuda() -> None:
    data = make_loaders("fake", 16, torch.device("cuda"))
    history = fit(build_model("resnet20").cuda(), data, Recipe(epochs=1, max_steps=6), progress=False)
    assert history[-1]["cuda_graph"] is True and math.isfinite(history[-1]["train_loss"])


# --- run folders: never silently reused, locked, writable; clean exits ------------------------------------------

SMOKE = ["--model", "resnet20", "--dataset", "fake", "--batch-size", "16", "--max-steps", "2", "--device", "cpu"]
SMOKE += ["--workers", "0"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _strict(line: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


def test_a_new_run_into_the_folder_of_a_run_is_refused_and_changes_nothing(tmp_path, monkeypatch, capsys) -> None:
    """An lr sweep without --out: every run goes to runs/MODEL-DATASET, and must not destroy the one before."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", *SMOKE, "--epochs", "1"]) == 0
    before = _files(tmp_path / "runs" / "resnet20-fake")
    assert sorted(before) == ["checkpoint.pt", "classes.json", "metrics.jsonl"]
    capsys.readouterr()
    assert main(["train", *SMOKE, "--epochs", "1", "--lr", "0.05"]) == 2
    assert capsys.readouterr().err == (
        "python -m refimpl: error: runs/resnet20-fake already holds a run (metrics.jsonl, checkpoint.pt); "
        "continue it with --resume, or start over with --overwrite, or choose another --out\n"
    )
    assert _files(tmp_path / "runs" / "resnet20-fake") == before
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    with pytest.raises(RunFolderError, match="already holds a run"):  # fit too
        fit(model, make_loaders("fake", 16, torch.device("cpu")), Recipe(epochs=1), out="runs/resnet20-fake")


def test_overwrite_replaces_a_run_only_once_its_first_epoch_is_written(tmp_path, monkeypatch, capsys) -> None:
    args = ["train", *SMOKE, "--epochs", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    before = _files(tmp_path)
    build = command.build_model
    monkeypatch.setattr(command, "build_model", lambda *a: _NanAtStep(build(*a), step=1))
    capsys.readouterr()
    assert main([*args, "--overwrite"]) == 1  # a new run that fails at its first step
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("python -m refimpl: error: the loss is nan at step 1 (epoch 1); training stopped;"), err
    assert err.endswith(f"last good checkpoint: none (no epoch finished; {tmp_path} still holds the earlier run)")
    assert _files(tmp_path) == before  # metrics.jsonl not emptied, checkpoint.pt not replaced
    monkeypatch.setattr(command, "build_model", build)
    assert main([*args, "--overwrite", "--seed", "1"]) == 0
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["config"]["seed"] == 1
    assert metrics(tmp_path)[0]["train_loss"] != _strict(before["metrics.jsonl"].decode())["train_loss"]


HOLD_LOCK = """
import sys
from refimpl.tools.files import lock_folder
with lock_folder(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_into_a_folder_in_use_is_refused_naming_the_first(tmp_path, capsys) -> None:
    command = [sys.executable, "-c", HOLD_LOCK, str(tmp_path)]
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        assert main(["train", *SMOKE, "--epochs", "1", "--out", str(tmp_path)]) == 2
    finally:
        holder.kill()  # SIGKILL: the system releases its lock
        holder.wait()
    assert capsys.readouterr().err == (
        f"python -m refimpl: error: {tmp_path} is in use by another run (pid {holder.pid}: -c {tmp_path}); "
        "wait for it to end, or choose another --out\n"
    )
    assert main(["train", *SMOKE, "--epochs", "1", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "classes.json",
        "metrics.jsonl",
    ]  # the lock file went


def _refuse_writes_in(monkeypatch: pytest.MonkeyPatch, folder: Path, code: int) -> None:
    """Make ``folder`` unwritable as a read-only folder or file system would (root writes anywhere)."""
    real_open, real_mkdir = os.open, Path.mkdir

    def open_(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if Path(path).parent == folder and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, *args, **kwargs)

    def mkdir(self: Path, *args: object, **kwargs: object) -> None:
        if self == folder and not self.exists():
            raise OSError(code, os.strerror(code), str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(Path, "mkdir", mkdir)


@pytest.mark.parametrize("case", ["a file", "under a file", "a read-only folder", "a read-only file system"])
def test_an_out_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, case: str) -> None:
    out = tmp_path / "out"
    if case == "a file":
        out.write_text("notes")
        expected = f"cannot use {out} as the run folder: it is a file"
    elif case == "under a file":
        (tmp_path / "notes").write_text("notes")
        out = tmp_path / "notes" / "out"
        expected = f"cannot write to the run folder {out}: Not a directory ({tmp_path / 'notes'} is a file)"
    elif case == "a read-only folder":
        out.mkdir()
        _refuse_writes_in(monkeypatch, out, errno.EACCES)
        expected = f"cannot write to the run folder {out}: Permission denied"
    else:
        _refuse_writes_in(monkeypatch, out, errno.EROFS)
        expected = f"cannot write to the run folder {out}: Read-only file system"
    assert main(["train", *SMOKE, "--epochs", "1", "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"python -m refimpl: error: {expected}\n"


def test_a_checkpoint_that_cannot_be_written_stops_the_run_in_one_line(tmp_path, monkeypatch, capsys) -> None:
    def disk_full(state: object, f: object, *args: object, **kwargs: object) -> None:
        f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", disk_full)
    assert main(["train", *SMOKE, "--epochs", "2", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"python -m refimpl: error: cannot write {tmp_path / 'checkpoint.pt'}: No space left on device; "
        "training stopped in epoch 1; last good checkpoint: none (no epoch finished)"
    )
    assert list(tmp_path.iterdir()) == []  # neither the temporary file nor the lock is left


class _DivergesQuietly(nn.Module):
    """Wraps a model; from the given training step on, its training loss stays finite, but either a buffer
    becomes infinite, as an overflowed running variance would (``"weights"``), or the test outputs become NaN."""

    def __init__(self, model: nn.Module, step: int, what: str) -> None:
        super().__init__()
        self.model, self.step, self.what, self.calls = model, step, what, 0
        self.register_buffer("gain", torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += self.training
        if self.training and self.calls >= self.step and self.what == "weights":
            self.gain.fill_(float("inf"))
        out = self.model(x)
        if not self.training:
            out = out * self.gain * (float("nan") if self.what == "test" and self.calls >= self.step else 1.0)
        return out


@pytest.mark.parametrize(
    ("what", "found"),
    [
        ("weights", "the test loss is nan and 1 of 98 weight tensors are not finite (gain)"),
        ("test", "the test loss is nan"),
    ],
)
def test_a_diverged_epoch_is_never_saved(tmp_path, monkeypatch, capsys, what: str, found: str) -> None:
    monkeypatch.setattr(command, "build_model", lambda *a: _DivergesQuietly(build_model(*a), 5, what))
    assert main(["train", *SMOKE, "--epochs", "3", "--max-steps", "3", "--out", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"python -m refimpl: error: {found} after step 6 (epoch 2); training stopped; "
        f"last good checkpoint: {tmp_path / 'checkpoint.pt'} (epoch 1)"
    )
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1 and all(torch.isfinite(t).all() for t in state["model"].values())
    rows = [_strict(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1]


def test_metrics_are_strict_json_with_non_finite_numbers_as_null(tmp_path) -> None:
    row = {"epoch": 1, "train_loss": 2.5, "test_loss": float("nan"), "images_per_s": float("inf")}
    run_folder.write_metrics(tmp_path / "metrics.jsonl", [row])
    (line,) = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert _strict(line) == {
        "epoch": 1,
        "train_loss": 2.5,
        "test_loss": None,
        "images_per_s": None,
        "nonfinite": ["test_loss", "images_per_s"],
    }


def _one_cycle(step: int, total: int, peak: float = 0.1) -> float:
    """PyTorch's one-cycle learning rate (``OneCycleLR``, cosine, warm-up 25%) at ``step``, in closed form."""
    start, low = peak / 25, peak / 25 / 1e4  # initial and final lr: div_factor 25, final_div_factor 1e4
    warm = 0.25 * total - 1  # the last step of the warm-up; at total = 4 that is step 0 alone, which starts it
    if step <= warm:
        pct = step / warm if warm > 0 else 0.0
        return peak + (start - peak) / 2 * (math.cos(math.pi * pct) + 1)
    pct = (step - warm) / (total - 1 - warm)
    return low + (peak - low) / 2 * (math.cos(math.pi * pct) + 1)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_both_schedules_work_for_every_total_from_1_to_10(schedule: str) -> None:
    for total in range(1, 11):
        model = nn.Linear(2, 2)
        optimizer, scheduler = train_module.make_optimizer(model, Recipe(lr=0.1, schedule=schedule), total)
        lrs = []
        for _ in range(total):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
        if schedule == "onecycle":
            expected = [_one_cycle(step, total) for step in range(total)]
        else:
            expected = [0.1 * (1 + math.cos(math.pi * step / total)) / 2 for step in range(total)]
        assert lrs == pytest.approx(expected, rel=1e-5), total
        assert all(0 < lr <= 0.1 for lr in lrs), total


@pytest.mark.parametrize(("epochs", "max_steps"), [("4", "1"), ("2", "2")])  # 4 steps in all
def test_smoke_runs_of_four_steps_train(tmp_path, epochs: str, max_steps: str) -> None:
    assert main(["train", *SMOKE, "--epochs", epochs, "--max-steps", max_steps, "--out", str(tmp_path)]) == 0
    assert len(metrics(tmp_path)) == int(epochs)


@pytest.mark.parametrize(("images", "batch", "expected"), [(16, 1, "training batches of 1 image"), (17, 8, "the last")])
def test_fit_refuses_batches_of_one_image_before_the_first_step(images: int, batch: int, expected: str) -> None:
    data = TensorDataset(torch.randn(images, 3, 8, 8), torch.randint(0, 10, (images,)))
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10)
    )
    weights = [p.detach().clone() for p in model.parameters()]
    loaders = (DataLoader(data, batch_size=batch), DataLoader(data, batch_size=batch))
    with pytest.raises(ValueError, match=expected) as info:
        fit(model, loaders, Recipe(epochs=1), progress=False)
    assert "batch normalisation" in str(info.value) and "batch size" in str(info.value)
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters(), strict=True))  # no step was taken


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: Recipe(lr=1e300), "Recipe: lr: expected a number in (0, 10], got 1e+300"),
        (lambda: Recipe(total_steps=0), "Recipe: total_steps: expected a positive integer, got 0"),
        (lambda: TrainConfig(seed=-1), "TrainConfig: seed: expected an integer from 0 to 2**32 - 1, got -1"),
        (lambda: TrainConfig(batch_size=1), "TrainConfig: batch_size: expected an integer of at least 2"),
    ],
)
def test_settings_are_checked_where_they_are_made(make, expected: str) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value).startswith(expected)


def test_output_files_follow_the_umask(tmp_path) -> None:
    umask = os.umask(0o027)
    try:
        train(smoke(tmp_path))
    finally:
        os.umask(umask)
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()} == {
        "checkpoint.pt": 0o640,
        "classes.json": 0o640,
        "metrics.jsonl": 0o640,
    }


KILLED_IN_A_SAVE = """
import os, sys
from refimpl.tools.files import atomic_open
writing = atomic_open(sys.argv[1], "wb")
f = writing.__enter__()
f.write(b"half a checkpoint")
f.flush()
os._exit(9)  # as if killed: no except or finally block runs
"""


def test_a_run_killed_during_a_save_leaves_no_temporary_file_for_good(tmp_path) -> None:
    train(smoke(tmp_path))
    subprocess.run([sys.executable, "-c", KILLED_IN_A_SAVE, str(tmp_path / "checkpoint.pt")], timeout=120, check=False)
    assert len(list(tmp_path.glob(".checkpoint.pt.*.tmp"))) == 1
    (tmp_path / ".notes.tmp").write_text("not the run's")
    train(*resolve_config(resume="", out=str(tmp_path), device="cpu"))  # the next run in the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".notes.tmp",
        "checkpoint.pt",
        "classes.json",
        "metrics.jsonl",
    ]


#: ``python -m refimpl`` with Ctrl-C's default handler: a suite started in the background (nohup, ``&``)
#: passes SIGINT on ignored, and the command rightly leaves an ignored signal ignored
WITH_CTRL_C = """
import runpy, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
runpy.run_module("refimpl", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_stops_in_one_line_naming_how_to_resume(tmp_path) -> None:
    """A real Ctrl-C, in a process of its own (SIGTERM: tests/test_run_safety.py)."""
    out, log = tmp_path / "run", tmp_path / "stderr.txt"
    command = [sys.executable, "-c", WITH_CTRL_C, "train", *SMOKE, "--epochs", "1000", "--out", str(out)]
    with log.open("w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.monotonic() + 120
            while not (out / "metrics.jsonl").exists():  # an epoch has been saved
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 130, log.read_text()[-2000:]
        finally:
            process.kill()
    err = log.read_text()
    epoch = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    assert err.strip().splitlines()[-1] == (
        f"python -m refimpl: interrupted after epoch {epoch} of 1000 (epoch {epoch + 1} starts over); resume with: "
        f"python -m refimpl train --resume --out {out}"
    )
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "classes.json", "metrics.jsonl"]  # the lock went
    assert len(metrics(out)) == epoch  # the two files agree: a signal never falls between their writes


def test_ctrl_c_in_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch, capsys) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "evaluate", interrupted)
    try:
        code = main(["train", *SMOKE, "--epochs", "3", "--out", str(tmp_path / "runs" / "new")])
    except KeyboardInterrupt:  # not caught: the traceback the user would see
        code = "KeyboardInterrupt"
    assert code == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "python -m refimpl: interrupted in epoch 1 of 3, before any was saved; run the same command again to start over"
    )
    assert list(tmp_path.iterdir()) == []  # the folders the run made are gone again


def test_out_of_memory_names_the_batch_size(tmp_path, monkeypatch, capsys) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(fitting, "train_epoch", out_of_memory)
    assert main(["train", *SMOKE, "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "python -m refimpl: error: out of memory at --batch-size 16; try a smaller --batch-size\n"
    )
