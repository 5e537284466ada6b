"""Nothing unsafe, nothing lost: what a careless or hostile user can do to a run folder, and what they see.

Each test is a case a user met: a planted link, a full disk, a folder name that
is not UTF-8, a reader that stops early, a job scheduler's SIGTERM, a checkpoint
written by ``fit`` resumed by the command. The command's documented exit codes
(``refimpl.tools.cli``) hold in every case, with a one-line message.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from refimpl.tools import cli
from refimpl.tools.cli import main
from refimpl.tools.data import make_loaders
from refimpl.tools.train import CheckpointError, Recipe, Stopped, fit, fitting, load_checkpoint
from refimpl.tools.train import checkpoint as checkpoint_module
from refimpl.tools.train import signals as signals_module
from refimpl.tools.train.command import TrainConfig, build_model, resolve_config, train

SMOKE = ["--model", "resnet20", "--dataset", "fake", "--batch-size", "16", "--max-steps", "2"]
SMOKE += ["--device", "cpu", "--workers", "0"]
TIMING = {"images_per_s", "seconds"}  # the only metrics that may differ between identical runs


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING} for row in rows]


# ---------------------------------------------------------------------------------------------------------------------
# links the run did not make


def test_a_lock_that_is_a_link_is_refused_and_its_target_untouched(tmp_path, capsys) -> None:
    """A ``.lock`` link to another file once had that file truncated and overwritten with the lock's text."""
    target, out = tmp_path / "thesis.txt", tmp_path / "run"
    target.write_text("three years of work")
    out.mkdir()
    (out / ".lock").symlink_to(target)
    assert main(["train", *SMOKE, "--epochs", "1", "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"python -m refimpl: error: cannot write to the run folder {out}: {out / '.lock'} is a link or not a plain "
        "file; the lock never follows one (remove it)\n"
    )
    assert target.read_text() == "three years of work"
    assert (out / ".lock").is_symlink() and sorted(p.name for p in out.iterdir()) == [".lock"]


def test_a_file_of_the_run_that_is_a_link_is_replaced_not_followed(tmp_path) -> None:
    target, out = tmp_path / "elsewhere.jsonl", tmp_path / "run"
    target.write_text("not the run's")
    out.mkdir()
    (out / "metrics.jsonl").symlink_to(target)  # empty for the run: a link to a file it did not write
    train(TrainConfig(**_config(out, overwrite=True)))
    assert target.read_text() == "not the run's"
    assert not (out / "metrics.jsonl").is_symlink() and len(_rows(out)) == 1


def test_a_dangling_link_as_out_is_one_line(tmp_path, capsys) -> None:
    (tmp_path / "out").symlink_to(tmp_path / "gone")
    assert main(["train", *SMOKE, "--epochs", "1", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"python -m refimpl: error: cannot use {tmp_path / 'out'} as the run folder: it is a link to "
        f"{tmp_path / 'gone'}, which does not exist\n"
    )


def test_a_folder_named_like_a_temporary_file_is_left_alone(tmp_path) -> None:
    """The clean-up of a killed run's temporary files once crashed on a folder with such a name."""
    train(TrainConfig(**_config(tmp_path)))
    (tmp_path / ".checkpoint.pt.x.tmp").mkdir()
    (tmp_path / ".checkpoint.pt.x.tmp" / "notes.txt").write_text("mine")
    train(*resolve_config(resume="", out=str(tmp_path), device="cpu", epochs=None))
    assert (tmp_path / ".checkpoint.pt.x.tmp" / "notes.txt").read_text() == "mine"


def _config(out: Path, **overrides: object) -> dict:
    settings = {"model": "resnet20", "dataset": "fake", "epochs": 1, "batch_size": 16, "max_steps": 2}
    return {**settings, "device": "cpu", "out": str(out), "workers": 0, **overrides}


# ---------------------------------------------------------------------------------------------------------------------
# paths as users type them


def test_out_expands_the_home_folder_as_data_root_does(tmp_path, monkeypatch) -> None:
    """``--out '~/x'`` once made a folder named ``~`` in the working folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    train(*resolve_config(**_config(Path("~/run"))))
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    fit(model, make_loaders("fake", 16, torch.device("cpu")), Recipe(epochs=1, max_steps=1), "~/fit", progress=False)
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["fit", "run"]
    assert not (tmp_path / "~").exists()


def console_streams(monkeypatch: pytest.MonkeyPatch) -> tuple[io.BytesIO, io.BytesIO]:
    """stdout and stderr as a UTF-8 terminal's (strict), guarded as ``python -m refimpl`` guards them.

    Called in the test itself: pytest sets its own streams again when a test starts.
    """
    buffers = io.BytesIO(), io.BytesIO()
    for name, buffer in zip(("stdout", "stderr"), buffers, strict=True):
        monkeypatch.setattr(sys, name, io.TextIOWrapper(buffer, encoding="utf-8", write_through=True))
    cli._guard_streams()  # what console() does first
    return buffers


def test_folders_whose_names_are_not_utf8_work(tmp_path, monkeypatch) -> None:
    """An EUC-KR folder name (a Korean Windows share) once failed with "surrogates not allowed"."""
    name = os.fsdecode(b"run-\xb0\xa1")  # not UTF-8: Python keeps its bytes as surrogates
    monkeypatch.chdir(tmp_path)
    # --data-root too (unused by fake data): it failed the same way, in the lock, which records the command line
    args = ["train", *SMOKE, "--epochs", "1", "--out", name, "--data-root", name]
    monkeypatch.setattr(sys, "argv", ["refimpl", *args])
    stdout, stderr = console_streams(monkeypatch)
    assert main(args) == 0, stderr.getvalue()[-2000:]
    assert os.fsencode(name) + b"/metrics.jsonl" in stdout.getvalue()  # the name's own bytes
    assert sorted(os.listdir(tmp_path / name)) == ["checkpoint.pt", "classes.json", "metrics.jsonl"]


# ---------------------------------------------------------------------------------------------------------------------
# every saved run resumes, through fit and through the command


def _fit_smoke(out: Path | None, epochs: int, resume: dict | None = None) -> list[dict]:
    torch.manual_seed(0)
    model = build_model("resnet20")
    data = make_loaders("fake", 16, torch.device("cpu"))
    return fit(model, data, Recipe(epochs=epochs, max_steps=2), out, resume=resume, progress=False)


def test_a_run_saved_by_fit_asks_the_command_for_its_model(tmp_path, capsys) -> None:
    """fit's checkpoints record its recipe, not the model or the loader; the check once refused them ("got None")."""
    _fit_smoke(tmp_path, epochs=1)
    assert "loader" not in load_checkpoint(tmp_path / "checkpoint.pt")["config"]
    assert main(["train", "--resume", "--out", str(tmp_path), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == (
        f"python -m refimpl: error: checkpoint {tmp_path / 'checkpoint.pt'} does not record its model or dataset "
        "(it was written by fit); name them with --model and --dataset\n"
    )


def test_every_checkpoint_resumes_through_fit_and_through_the_command(tmp_path) -> None:
    """fit -> train --resume and train -> fit(resume=...), each ending as an uninterrupted run of 3 epochs."""
    whole = _untimed(_fit_smoke(None, epochs=3))
    by_fit = tmp_path / "by-fit"
    _stopped_after_one_epoch(by_fit, lambda: _fit_smoke(by_fit, epochs=3))
    args = ["--model", "resnet20", "--dataset", "fake", "--batch-size", "16", "--workers", "0", "--device", "cpu"]
    assert main(["train", "--resume", "--out", str(by_fit), *args]) == 0
    assert _untimed(_rows(by_fit)) == whole

    by_train = tmp_path / "by-train"
    _stopped_after_one_epoch(by_train, lambda: train(TrainConfig(**_config(by_train, epochs=3))))
    checkpoint = load_checkpoint(by_train / "checkpoint.pt")
    train_history = _fit_smoke(by_train, epochs=3, resume=checkpoint)
    assert len(train_history) == 3 and _untimed(_rows(by_train)) == _untimed(train_history)
    # and the command continues what fit continued: the model and the data are still recorded
    assert load_checkpoint(by_train / "checkpoint.pt")["config"]["model"] == "resnet20"
    with pytest.raises(CheckpointError, match="differs: lr 0.05"):  # fit keeps the recipe as the command does
        fit(build_model("resnet20"), make_loaders("fake", 16, torch.device("cpu")), Recipe(epochs=3, lr=0.05),
            by_train, resume=checkpoint, progress=False)  # fmt: skip


def _stopped_after_one_epoch(folder: Path, run: Callable[[], object]) -> None:
    """Run ``run`` until its first epoch is saved, then stop it as Ctrl-C would."""
    save = fitting._save_epoch

    def save_then_stop(*args: object, **kwargs: object) -> None:
        save(*args, **kwargs)
        raise KeyboardInterrupt

    fitting._save_epoch = save_then_stop
    try:
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        fitting._save_epoch = save
    assert load_checkpoint(folder / "checkpoint.pt")["epoch"] == 1


# ---------------------------------------------------------------------------------------------------------------------
# writes that fail or are cut short


class _FullDisk:
    """A file on a disk that fills after ``room`` bytes: a write then fails as the kernel's would."""

    def __init__(self, f: object, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data: bytes) -> int:
        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.f.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.f, name)


def test_a_full_disk_during_a_save_is_one_line_and_keeps_the_last_checkpoint(tmp_path, monkeypatch, capsys) -> None:
    """torch.save reports a failed write as a RuntimeError, which once escaped as a traceback with exit 1."""
    assert main(["train", *SMOKE, "--epochs", "2", "--out", str(tmp_path)]) == 0
    before = (tmp_path / "checkpoint.pt").read_bytes()
    real = checkpoint_module.atomic_open

    @contextlib.contextmanager
    def filling(path: Path, mode: str = "w") -> object:
        with real(path, mode) as f:
            yield _FullDisk(f, room=10_000) if mode == "wb" else f

    monkeypatch.setattr(checkpoint_module, "atomic_open", filling)
    capsys.readouterr()
    assert main(["train", *SMOKE, "--epochs", "2", "--out", str(tmp_path), "--overwrite"]) == 2
    checkpoint = tmp_path / "checkpoint.pt"
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"python -m refimpl: error: cannot write {checkpoint}: No space left on device; training stopped in epoch 1; "
        f"last good checkpoint: none (no epoch finished; {tmp_path} still holds the earlier run)"
    )
    assert checkpoint.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "classes.json",
        "metrics.jsonl",
    ]  # no temporary file


def test_an_overwrite_cut_between_its_two_writes_never_mixes_two_runs(tmp_path, monkeypatch) -> None:
    """The new run's checkpoint beside the old run's metrics.jsonl, which --overwrite once left without a word."""
    train(TrainConfig(**_config(tmp_path, epochs=2)))
    old = _rows(tmp_path)

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit(137)  # as if killed between the checkpoint and the metrics

    monkeypatch.setattr(fitting, "write_metrics", killed)
    with pytest.raises(SystemExit):
        train(TrainConfig(**_config(tmp_path, epochs=2, seed=1, overwrite=True)))
    new = load_checkpoint(tmp_path / "checkpoint.pt")
    assert new["config"]["seed"] == 1 and new["epoch"] == 1
    assert not (tmp_path / "metrics.jsonl").exists()  # the old run's metrics went before the new checkpoint came
    monkeypatch.undo()
    train(*resolve_config(resume="", out=str(tmp_path), device="cpu"))  # and the run goes on
    rows = _rows(tmp_path)
    assert len(rows) == 2 and rows[0] == new["history"][0] and rows[0]["train_loss"] != old[0]["train_loss"]


def test_fit_refuses_an_empty_test_loader_before_the_first_step() -> None:
    """It once trained a whole epoch and then divided by zero images."""
    images, labels = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    train_batches = DataLoader(TensorDataset(images, labels), batch_size=4)
    empty = DataLoader(TensorDataset(images[:0], labels[:0]), batch_size=4)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    before = model[0].weight.clone()
    with pytest.raises(ValueError, match="^the test loader has no batch"):
        fit(model, (train_batches, empty), Recipe(epochs=1), progress=False)
    assert torch.equal(model[0].weight, before)


def test_an_unknown_data_set_is_one_line() -> None:
    with pytest.raises(ValueError, match="^unknown data set 'mnist'; known: cifar10, digits, fake, folder$"):
        make_loaders("mnist", 16, torch.device("cpu"))


# ---------------------------------------------------------------------------------------------------------------------
# signals and streams


def test_a_signal_during_a_save_waits_for_both_files() -> None:
    signals = signals_module._StopSignals()
    written = []
    with pytest.raises(Stopped) as stopped, signals.hold():
        signals.handler(signal.SIGTERM, None)  # arrives between the checkpoint and the metrics
        written.append("metrics.jsonl")
    assert written == ["metrics.jsonl"] and stopped.value.signum == signal.SIGTERM
    with pytest.raises(Stopped):  # outside a save it stops at once
        signals.handler(signal.SIGINT, None)


@pytest.fixture
def sigterm_at_evaluation(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """``send(epoch)``: SIGTERM comes to this process while ``epoch`` is evaluated, before its checkpoint.

    The signal is real; the run's handler turns it into a stop. SIGTERM's
    default (death) is set first, as a process has it, so that a run that failed
    to install its handler would kill the test worker: a failure too.
    """
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("Python delivers signals to the main thread only")
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    evaluate = fitting.evaluate

    def send(epoch: int) -> None:
        calls = []

        def evaluating(*args: object, **kwargs: object) -> object:
            calls.append(1)
            if len(calls) == epoch:
                os.kill(os.getpid(), signal.SIGTERM)
            return evaluate(*args, **kwargs)

        monkeypatch.setattr(fitting, "evaluate", evaluating)

    yield send
    signal.signal(signal.SIGTERM, before)


def test_sigterm_stops_a_run_as_ctrl_c_does(tmp_path, sigterm_at_evaluation, capsys) -> None:
    """What a job scheduler sends before it kills a job once lost the epoch without a word."""
    sigterm_at_evaluation(2)
    assert main(["train", *SMOKE, "--epochs", "3", "--out", str(tmp_path)]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "python -m refimpl: terminated (SIGTERM) after epoch 1 of 3 (epoch 2 starts over); resume with: "
        f"python -m refimpl train --resume --out {tmp_path}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint.pt",
        "classes.json",
        "metrics.jsonl",
    ]  # the lock went
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the run's handler went too


def test_sigterm_during_a_save_stops_after_it(tmp_path, sigterm_at_evaluation, monkeypatch, capsys) -> None:
    """The signal waits for the metrics after the checkpoint, and the message names the epoch they hold."""
    sigterm_at_evaluation(0)  # SIGTERM's default set; no signal at evaluation
    write = fitting.write_metrics

    def killed_between(*args: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # after the checkpoint, before the metrics
        write(*args)

    monkeypatch.setattr(fitting, "write_metrics", killed_between)
    assert main(["train", *SMOKE, "--epochs", "3", "--out", str(tmp_path)]) == 143
    assert "terminated (SIGTERM) after epoch 1 of 3 (epoch 2 starts over)" in capsys.readouterr().err
    assert len(_rows(tmp_path)) == load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1


def test_sigterm_in_the_first_epoch_removes_the_folder_it_made(tmp_path, sigterm_at_evaluation, capsys) -> None:
    """A run killed in its first epoch once left a new folder that held only .lock."""
    sigterm_at_evaluation(1)
    assert main(["train", *SMOKE, "--epochs", "3", "--out", str(tmp_path / "runs" / "new")]) == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "python -m refimpl: terminated (SIGTERM) in epoch 1 of 3, before any was saved; run the same command "
        "again to start over"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_closed_stderr_and_a_reader_that_stops_early_change_no_exit_code(tmp_path) -> None:
    """``train ... 2>&- | head -1`` once ended in BrokenPipeError and exit 1, the code of a diverged run.

    With stderr closed the run failed silently, with exit 1 too.
    """
    script = "import os, runpy; os.close(2); runpy.run_module('refimpl', run_name='__main__')"
    command = [sys.executable, "-c", script, "train", *SMOKE, "--epochs", "2", "--out", str(tmp_path / "run")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout.readline().startswith(b"device: cpu")
    process.stdout.close()  # head -1 has what it wanted
    assert process.wait(timeout=180) == 0
    assert len(_rows(tmp_path / "run")) == 2  # the run went on to its end


def test_verify_into_a_closed_pipe_keeps_its_exit_code(monkeypatch) -> None:
    """``verify | head -1``: the table goes nowhere, and the exit code still says whether the models passed."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the table is written
    monkeypatch.setattr(sys, "stdout", open(write, "w"))  # noqa: SIM115  (closed by the interpreter with sys.stdout)
    cli._guard_streams()
    assert main(["verify", "resnet20"]) == 0
    sys.stdout.flush()  # as the interpreter does at exit
