"""Training past the toy: a folder of your own images, and fine-tuning from published weights or a file.

Every bad input is one line and exit 2, checked through the command as a user
meets it. The published checkpoints are fakes with the real names (the
``cache_checkpoint`` fixture); nothing downloads.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch
import torchvision
from helpers import RunsCode, stop_after_first_epoch, write_image_folder

from refimpl.tools.cli import main
from refimpl.tools.data import make_loaders
from refimpl.tools.train.command import build_model

CPU = torch.device("cpu")


def command(*args: str) -> list[str]:
    """``train`` on the CPU for one epoch of batches of 4, in this process (no DataLoader workers)."""
    defaults = {"--epochs": "1", "--batch-size": "4", "--device": "cpu", "--workers": "0"}
    given = set(args)
    return ["train", *args, *(x for k, v in defaults.items() if k not in given for x in (k, v))]


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's error: exactly one line, no traceback."""
    err = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()
    lines = [line for line in err if line.startswith("python -m refimpl: ")]
    assert len(lines) == 1 and "Traceback" not in "".join(err), err
    return lines[0]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "images")


# --- your own images ----------------------------------------------------------------------------------------------


def test_a_folder_trains_and_records_its_class_names(images: Path, tmp_path: Path, capsys) -> None:
    (images / "train" / "cat" / "notes.txt").write_text("not an image")
    out = tmp_path / "run"
    args = ("--model", "resnet20", "--dataset", "folder", "--data-root", str(images), "--out", str(out))
    assert main(command(*args)) == 0
    captured = capsys.readouterr().out
    assert f"skipped 1 file that is not an image (.txt 1) in {images / 'train'}" in captured
    assert json.loads((out / "classes.json").read_text()) == ["cat", "dog"]
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["config"]["classes"] == ["cat", "dog"] and state["model"]["fc.weight"].shape[0] == 2
    assert state["config"]["loader"] == "dataloader"  # the folder's default: images of many sizes
    (row,) = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert row["test_images"] == 4


def test_a_folder_whose_classes_changed_cannot_resume_its_run(
    images: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    out = tmp_path / "run"
    args = ("--model", "resnet20", "--dataset", "folder", "--data-root", str(images), "--out", str(out))
    stop_after_first_epoch(monkeypatch, command(*args, "--epochs", "2"))
    for split in ("train", "val"):
        (images / split / "dog").rename(images / split / "fox")
    capsys.readouterr()
    assert main(command("--resume", "--out", str(out), "--epochs", "2")) == 2
    assert "differs: classes ['cat', 'fox'] (checkpoint: ['cat', 'dog'])" in one_error(capsys)


def _not_utf8(root: Path) -> None:
    for split in ("train", "val"):
        os.rename(root / split / "dog", os.fsencode(root / split) + b"/caf\xe9")


def _one_class(root: Path) -> None:
    for split in ("train", "val"):
        shutil.rmtree(root / split / "dog")


BAD_FOLDERS = {
    "no train/": (lambda root: os.rename(root / "train", root / "training"), "has no train/ folder; expected"),
    "one class": (_one_class, "needs a folder for each of at least 2 classes, found 1 (cat)"),
    "an empty class": (
        lambda root: [p.unlink() for p in (root / "train" / "dog").iterdir()],
        "train/dog holds no images (.jpg, .jpeg, .png, .ppm, .bmp, .pgm, .tif, .tiff, .webp); add some, or remove",
    ),
    "other classes in val/": (
        lambda root: os.rename(root / "val" / "dog", root / "val" / "fox"),
        "val differ from those of",
    ),
    "a name that is not UTF-8": (_not_utf8, "has a class folder whose name is not valid UTF-8 (b'caf\\xe9')"),
    "a truncated image": (
        lambda root: (root / "train" / "dog" / "0.jpg").write_bytes(
            (root / "train" / "dog" / "0.jpg").read_bytes()[:200]
        ),
        "train/dog/0.jpg: a damaged image (",
    ),
    "a file that is not an image": (
        lambda root: (root / "train" / "dog" / "broken.jpg").write_bytes(b"garbage"),
        "broken.jpg: not an image Pillow can read; replace or remove it",
    ),
}


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_a_bad_folder_is_one_line_and_exit_2(case: str, images: Path, tmp_path: Path, capsys) -> None:
    damage, expected = BAD_FOLDERS[case]
    damage(images)
    out = tmp_path / "run"
    # a broken image is found by a DataLoader worker, whose error reaches the command wrapped: one worker here
    workers = "1" if case == "a file that is not an image" else "0"
    args = ("--model", "resnet20", "--dataset", "folder", "--data-root", str(images), "--workers", workers)
    assert main(command(*args, "--out", str(out))) == 2
    assert expected in one_error(capsys)
    assert not out.exists()  # nothing was saved: the folder this run created is gone


def test_the_loaders_hand_out_the_asked_image_size(images: Path) -> None:
    train, val = make_loaders("folder", 4, CPU, loader="dataloader", root=images, num_workers=0, image_size=40)
    assert train.classes == val.classes == ["cat", "dog"]
    assert next(iter(train))[0].shape == next(iter(val))[0].shape == (4, 3, 40, 40)
    for loader in ("device", "dataloader"):  # a 32x32 data set resized for a model pretrained on larger images
        train, _ = make_loaders("digits", 8, CPU, loader=loader, num_workers=0, image_size=64)
        assert next(iter(train))[0].shape == (8, 3, 64, 64) and train.classes[:2] == ["0", "1"]
    with pytest.raises(ValueError, match="DataLoader workers"):
        make_loaders("folder", 4, CPU, loader="device", root=images)


# --- fine-tuning from published weights or a file ---------------------------------------------------------------


def test_published_weights_load_with_a_new_classifier(cache_checkpoint, images: Path, tmp_path: Path) -> None:
    published = torchvision.models.resnet18().state_dict()
    cache_checkpoint("resnet18", "IMAGENET1K_V1", published)
    model = build_model("resnet18", num_classes=2, weights="IMAGENET1K_V1")
    assert torch.equal(model.conv1.weight, published["conv1.weight"]) and model.fc.out_features == 2
    out = tmp_path / "run"
    args = ("--model", "resnet18", "--weights", "IMAGENET1K_V1", "--image-size", "32", "--out", str(out))
    assert main(command(*args, "--dataset", "folder", "--data-root", str(images))) == 0
    config = torch.load(out / "checkpoint.pt", weights_only=True)["config"]
    assert config["weights"] == "IMAGENET1K_V1" and config["normalize"] == "weights" and config["image_size"] == 32


def test_a_checkpoint_file_loads_nested_and_unwrapped(tmp_path: Path, capsys) -> None:
    """As torchvision's reference and DDP save it: under "model", every key with "module." in front."""
    weights = torchvision.models.resnet18().state_dict()
    path = tmp_path / "pretrained.pth"
    torch.save({"model": {f"module.{k}": v for k, v in weights.items()}, "epoch": 90}, path)
    model = build_model("resnet18", num_classes=5, weights=str(path))
    assert torch.equal(model.layer4[1].conv2.weight, weights["layer4.1.conv2.weight"]) and model.fc.out_features == 5
    assert f"note: the classifier (fc) is new: {path} has one for 1000 classes" in capsys.readouterr().out
    same = build_model("resnet18", num_classes=1000, weights=str(path))  # the same classes: its head too
    assert torch.equal(same.fc.weight, weights["fc.weight"])


def test_a_resumed_fine_tuning_reads_its_checkpoint_not_the_weights_again(
    images: Path, tmp_path: Path, monkeypatch
) -> None:
    path = tmp_path / "pretrained.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    out = tmp_path / "run"
    args = ("--model", "resnet18", "--weights", str(path), "--image-size", "32", "--out", str(out))
    stop_after_first_epoch(
        monkeypatch, command(*args, "--dataset", "folder", "--data-root", str(images), "--epochs", "2")
    )
    path.unlink()
    assert main(command("--resume", "--out", str(out), "--epochs", "2")) == 0
    assert len(torch.load(out / "checkpoint.pt", weights_only=True)["history"]) == 2


def _save(path: Path, content: object) -> Path:
    torch.save(content, path)
    return path


BAD_WEIGHTS = {
    "another model's file": (
        lambda tmp: str(_save(tmp / "r34.pth", torchvision.models.resnet34().state_dict())),
        "r34.pth does not fit resnet18 (unexpected: layer1.2.conv1.weight, layer1.2.bn1.weight, layer1.2.bn1.bias and",
    ),
    "NaN weights": (
        lambda tmp: str(_save(tmp / "nan.pth", _nan_resnet18())),
        "nan.pth holds NaN or infinite values in conv1.weight, bn1.weight, bn1.bias and",
    ),
    "a file that runs code": (
        lambda tmp: str(_save(tmp / "evil.pth", {"conv1.weight": RunsCode(tmp / "marker")})),
        "evil.pth as a checkpoint of tensors (UnpicklingError",
    ),
    "a path to no file": (lambda tmp: str(tmp / "missing.pth"), "no checkpoint file"),
    "an unknown name": (lambda tmp: "IMAGENET1K_V9", "unknown weights 'IMAGENET1K_V9' for resnet18; accepted"),
    "published but not cached, offline": (
        lambda tmp: "IMAGENET1K_V1",
        "is not cached and downloading https://download.pytorch.org/models/resnet18-f37072fd.pth failed",
    ),
}


def _nan_resnet18() -> dict[str, torch.Tensor]:
    return {k: v.float().fill_(float("nan")) for k, v in torchvision.models.resnet18().state_dict().items()}


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_weights_are_one_line_and_exit_2(
    case: str, images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty cache: the download fails (conftest)
    make, expected = BAD_WEIGHTS[case]
    out = tmp_path / "run"
    args = ("--model", "resnet18", "--weights", make(tmp_path), "--image-size", "32", "--out", str(out))
    assert main(command(*args, "--dataset", "folder", "--data-root", str(images))) == 2
    assert expected in one_error(capsys)
    assert not (tmp_path / "marker").exists() and not out.exists()


FLAGS_THAT_CONFLICT = {
    "weights and a small stem": (
        ("--model", "resnet18", "--weights", "DEFAULT", "--small-input", "--dataset", "fake"),
        "--weights needs the model's own stem, which --small-input replaces",
    ),
    "the weights' statistics without weights": (
        ("--model", "resnet20", "--normalize", "weights", "--dataset", "fake"),
        "--normalize weights needs --weights",
    ),
    "a folder on the device loader": (
        ("--model", "resnet20", "--dataset", "folder", "--loader", "device"),
        "--dataset folder needs --loader dataloader (its default)",
    ),
    "weights for a model that has none": (
        ("--model", "resnet20", "--weights", "DEFAULT", "--dataset", "fake"),
        "resnet20 has no published weights",
    ),
}


@pytest.mark.parametrize("case", FLAGS_THAT_CONFLICT)
def test_flags_that_conflict_are_one_line_before_any_work(case: str, tmp_path: Path, capsys) -> None:
    args, expected = FLAGS_THAT_CONFLICT[case]
    out = tmp_path / "run"
    assert main(command(*args, "--out", str(out))) == 2
    assert expected in one_error(capsys) and not out.exists()


# --- the page ---------------------------------------------------------------------------------------------------

OWN_DATA_PAGE = Path(__file__).resolve().parents[1] / "docs" / "own_data.md"
#: every ```sh or ```python block after a ``<!-- test: own data -->`` line
PAGE_BLOCKS = re.compile(r"<!-- test: own data -->\n```(sh|python)\n(.*?)```", re.DOTALL)
#: what the suite adds to the page's commands, so that they take a second: last on the line, they win
SMOKE_FLAGS = ["--epochs", "1", "--batch-size", "4", "--image-size", "32", "--device", "cpu", "--workers", "0"]


def test_the_own_data_page_runs_on_generated_images(tmp_path: Path, monkeypatch, cache_checkpoint, capsys) -> None:
    """The page's commands and code, in order, on a generated folder and a cached (random) resnet18 checkpoint.

    The commands run as written, with ``SMOKE_FLAGS`` appended (one epoch of
    batches of 4 at 32x32 on the CPU: a second, not minutes); the file the
    page gives ``--weights`` is the published file, put in the working folder.
    """
    blocks = PAGE_BLOCKS.findall(OWN_DATA_PAGE.read_text())
    assert [kind for kind, _ in blocks] == ["sh", "sh", "python"], "the page lost a marked block"
    monkeypatch.chdir(tmp_path)
    write_image_folder(tmp_path / "my_images")
    cached = cache_checkpoint("resnet18", "IMAGENET1K_V1", torchvision.models.resnet18().state_dict())
    shutil.copy(cached, tmp_path / "resnet18-f37072fd.pth")
    for kind, code in blocks:
        if kind == "python":
            exec(compile(code, "own_data.md", "exec"), {"__name__": "own_data"})  # noqa: S102  (the page's own code)
            continue
        argv = shlex.split(code.replace("\\\n", " "))
        assert argv[:3] == ["python", "-m", "refimpl"], argv
        assert main([*argv[3:], *SMOKE_FLAGS]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "runs" / "my-resnet18" / "classes.json").read_text()) == ["cat", "dog"]
    assert capsys.readouterr().out.splitlines()[-1].split()[0] in ("cat", "dog")  # the prediction's class
