"""Training: metrics and checkpoints, exact resume, failures as one line, and real learning on digits."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from refimpl.tools import train as train_module
from refimpl.tools.cli import main
from refimpl.tools.train import CheckpointError, TrainConfig, build_model, resolve_config, train

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


@pytest.mark.parametrize("loader", ["gpu", "dataloader"])
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

    monkeypatch.setattr(train_module, "evaluate", killed_in_epoch_2)
    out = tmp_path / "parts"
    with pytest.raises(KeyboardInterrupt):
        train(smoke(out, epochs=3, loader=loader))
    assert [row["epoch"] for row in metrics(out)] == [1]
    monkeypatch.setattr(train_module, "evaluate", evaluate)
    torch.manual_seed(123)  # a resumed run must not depend on the state it starts in
    resumed = train(resolve_config(resume="", out=str(out), device="cpu"))

    assert [row["epoch"] for row in metrics(out)] == [1, 2, 3]
    for a, b in zip(metrics(tmp_path / "whole"), metrics(out), strict=True):
        assert {k: v for k, v in a.items() if k not in TIMING} == {k: v for k, v in b.items() if k not in TIMING}
    assert resumed["test_loss"] == whole["test_loss"]
    final = torch.load(out / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(weights[k], final[k]) for k in weights)


def test_resume_refuses_a_different_recipe(tmp_path) -> None:
    train(smoke(tmp_path))
    with pytest.raises(CheckpointError, match="differs: epochs 5 \\(checkpoint: 1\\)"):
        train(resolve_config(resume=str(tmp_path / "checkpoint.pt"), epochs=5, device="cpu"))


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
    monkeypatch.setattr(train_module, "build_model", lambda *a: _NanAtStep(build_model(*a), step=5))
    args = ["train", "--model", "resnet20", "--dataset", "fake", "--epochs", "3", "--batch-size", "16"]
    assert main([*args, "--max-steps", "3", "--device", "cpu", "--workers", "0", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # the progress bars come before
    assert err.startswith("python -m refimpl: error: the loss is nan at step 5 (epoch 2);"), err
    assert f"last good checkpoint: {tmp_path / 'checkpoint.pt'} (epoch 1)" in err
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert [row["epoch"] for row in metrics(tmp_path)] == [1]


def _checkpoints(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 10)
    truncated = tmp_path / "truncated.pt"
    torch.save({"format": "refimpl-train-checkpoint", "model": torch.ones(1000)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    foreign = tmp_path / "foreign.pt"
    torch.save(build_model("resnet20").state_dict(), foreign)
    code = tmp_path / "code.pt"
    code.write_bytes(pickle.dumps(Path("x"), protocol=2))  # an arbitrary object, refused by weights_only
    train(smoke(tmp_path / "run"))
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    incomplete = tmp_path / "incomplete.pt"
    torch.save({k: v for k, v in state.items() if k != "optimizer"}, incomplete)
    mismatched = tmp_path / "mismatched.pt"
    torch.save({**state, "model": build_model("resnet32").state_dict()}, mismatched)
    return {
        "garbage": (garbage, "cannot read checkpoint"),
        "truncated": (truncated, "cannot read checkpoint"),
        "foreign": (foreign, "is not a refimpl training checkpoint"),
        "code": (code, "cannot read checkpoint"),
        "missing": (tmp_path / "missing.pt", "no checkpoint at"),
        "incomplete": (incomplete, "lacks optimizer"),
        "mismatched": (mismatched, "does not fit this run: Error(s) in loading state_dict for CifarResNet: Unexpected"),
    }


@pytest.mark.parametrize("kind", ["garbage", "truncated", "foreign", "code", "missing", "incomplete", "mismatched"])
def test_an_unusable_checkpoint_is_one_line_and_exit_2(tmp_path, capsys, kind: str) -> None:
    path, expected = _checkpoints(tmp_path)[kind]
    capsys.readouterr()  # the run that made the checkpoints
    assert main(["train", "--resume", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--epochs", "0"], "expected a positive integer, got '0'"),
        (["--lr", "-0.1"], "expected a positive number, got '-0.1'"),
        (["--lr", "nan"], "expected a positive number, got 'nan'"),
        (["--workers", "-1"], "expected a non-negative integer"),
        (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
        (["--model", "resnt20"], "unknown model 'resnt20'; did you mean resnet20"),
        (["--model", "resnet20", "--small-input"], "resnet20 does not take --small-input"),
        (["--resume"], "--resume without a file needs --out DIR"),
    ],
)
def test_bad_flags_exit_2_with_one_line(args: list[str], expected: str, capsys) -> None:
    try:
        code = main(["train", "--device", "cpu", *args])
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.skipif(torch.cuda.is_available(), reason="there is a CUDA device here")
def test_device_cuda_without_one_is_one_line(capsys) -> None:
    assert main(["train", "--device", "cuda"]) == 2
    assert "--device cuda: no CUDA device is available" in capsys.readouterr().err


def test_missing_cifar10_from_the_command_line(tmp_path) -> None:
    command = [sys.executable, "-m", "refimpl", "train", "--dataset", "cifar10", "--data-root", str(tmp_path)]
    result = subprocess.run([*command, "--device", "cpu"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith(f"python -m refimpl: error: CIFAR-10 not found (or incomplete) in {tmp_path}")
    assert "--download" in result.stderr and "cifar-10-python.tar.gz" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


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
    """Real handwritten digits, no network: at least 90% test accuracy in three epochs."""
    config = TrainConfig(model="resnet20", dataset="digits", epochs=3, batch_size=32, device="cpu", out=str(tmp_path))
    last = train(config)
    assert last["test_images"] == 360
    assert last["test_acc"] >= 0.90, last


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is available")
def test_one_epoch_of_resnet18_in_bfloat16_channels_last_on_cifar_format_data(cifar10_root, tmp_path) -> None:
    root, _ = cifar10_root
    config = TrainConfig(
        model="resnet18", small_input=True, dataset="cifar10", data_root=str(root), epochs=1, batch_size=8,
        device="cuda", out=str(tmp_path / "run"),
    )  # fmt: skip
    last = train(config)
    assert last["device"].startswith("cuda") and last["channels_last"]
    assert last["precision"] == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    assert last["test_images"] == 4 and torch.isfinite(torch.tensor([last["train_loss"], last["test_loss"]])).all()
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["model"]["conv1.weight"].is_contiguous(memory_format=torch.channels_last)
