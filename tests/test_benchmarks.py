"""The benchmark scripts run, on the CPU at toy sizes, and write what the Results page reads.

They are timed nowhere here: each prints ratios of paths measured side by side
in one run. These tests check that they run and record the right things.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_train_throughput_measures_three_paths_and_their_arithmetic(tmp_path) -> None:
    out = tmp_path / "t.json"
    args = ["--device", "cpu", "--model", "resnet20", "--no-small-input", "--dataset", "fake", "--workers", "0"]
    args += ["--batch-size", "8", "--recipe-batch-size", "16", "--warmup", "1", "--max-steps", "1", "--rounds", "1"]
    assert _script("train_throughput").main([*args, "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [(r["path"], r["batch_size"]) for r in data["rows"]] == [("notes", 8), ("refimpl", 8), ("recipe", 16)]
    assert all(r["tflops"] > 0 for r in data["rows"]) and data["peak_bf16_tflops"] is None  # no peak for a CPU
    # ResNet-20 is about 41 MMACs per 32x32 image; a training step is about 3x the forward pass, 2 FLOPs per MAC
    assert 0.15e9 < data["flops_per_image"] < 0.35e9, data["flops_per_image"]


def test_folder_loader_measures_the_loader_against_the_step(tmp_path, capsys) -> None:
    out = tmp_path / "f.json"
    args = ["--device", "cpu", "--model", "resnet20", "--images", "8", "--photo-size", "64", "48", "--workers", "0"]
    args += ["--image-size", "32", "--batch-size", "4", "--steps", "1", "--rounds", "1", "--out", str(out)]
    assert _script("folder_loader").main(args) == 0
    data = json.loads(out.read_text())
    assert [r["rate"] for r in data["rows"]] == ["loader", "step"] and data["settings"]["images"] == 8
    assert all(len(r["images_per_s"]) == 1 and r["images_per_s"][0] > 0 for r in data["rows"])
    assert "(a) / (b) = " in capsys.readouterr().out


def test_forward_backward_covers_every_reference_and_loads_the_same_weights(tmp_path) -> None:
    module = _script("forward_backward")
    assert {"resnet50", "densenet121", "se_resnet50", "preact_resnet50"} <= set(module.MODELS)
    out = tmp_path / "f.json"
    args = ["--models", "resnet18", "se_resnet50", "--batch-size", "2", "--image-size", "64", "--repeats", "1"]
    module.main([*args, "--out", str(out)])  # the ratio itself is noise at this size: not checked
    rows = json.loads(out.read_text())["rows"]
    assert [(r["model"], r["reference"]) for r in rows] == [
        ("resnet18", "torchvision.resnet18"),
        ("se_resnet50", "timm.seresnet50"),
    ]


def test_densenet_memory_compares_torchvisions_mode_on_the_same_weights() -> None:
    module = _script("densenet_memory")
    assert module.modes("densenet121") == module.MODES and "torchvision_memory_efficient" not in module.modes(
        "densenet_bc_100"
    )
    torch.manual_seed(0)
    models = {mode: module.build("densenet121", mode).eval() for mode in module.MODES}
    for model in models.values():
        model.load_state_dict(models["plain"].state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        outputs = [model(x) for model in models.values()]
    for output in outputs[1:]:
        torch.testing.assert_close(output, outputs[0], rtol=0, atol=0)
    assert models["torchvision_memory_efficient"].features.denseblock1.denselayer1.memory_efficient


def test_the_gpu_measurement_writes_a_cifar10_folder_torchvision_accepts(tmp_path) -> None:
    module = _script("measure_gpu")
    patch = module.write_random_cifar10(tmp_path, images_per_file=3)
    check = (
        "import sys, torchvision; d = torchvision.datasets.CIFAR10(sys.argv[1], train=True); "
        "t = torchvision.datasets.CIFAR10(sys.argv[1], train=False); print(len(d), len(t), d.data.shape)"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(patch), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-c", check, str(tmp_path)], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["15", "3"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="there is a CUDA device here")
def test_the_gpu_measurement_without_a_gpu_is_one_line_and_exit_2(capsys) -> None:
    assert _script("measure_gpu").main([]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: no CUDA device is available; this script measures the GPU"
