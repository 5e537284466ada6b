"""`python -m refimpl`: output, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
from torch import nn

from refimpl import resnet
from refimpl.tools import inspection, registry
from refimpl.tools.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "refimpl", *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_list_shows_every_model_with_its_parameters(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """The table, not the counting: MACs are checked against torchvision's metadata in test_parity.py.

    Counting them for all the models took 11-20 s of the suite; a stand-in keeps the column.
    """
    monkeypatch.setattr(inspection, "count_macs", lambda model, input_size: 1_234_000_000)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in registry.list_models():
        assert name in out
    assert "25,557,032" in out and "GMACs" in out and "1.23" in out


def test_summary_resnet50_shows_the_parameter_count(capsys) -> None:
    assert main(["summary", "resnet50", "--depth", "1"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 25,557,032" in out and "Exact parameter count: 25,557,032" in out


def test_summary_with_an_input_size(capsys) -> None:
    assert main(["summary", "resnet18", "--input-size", "3", "64", "64", "--depth", "1"]) == 0
    assert "[1, 3, 64, 64]" in capsys.readouterr().out


def test_verify_passes_for_a_torchvision_and_a_paper_model(capsys) -> None:
    assert main(["verify", "resnet18", "resnet20", "--image-size", "32"]) == 0
    out = capsys.readouterr().out
    assert "torchvision.resnet18" in out and "0.27M" in out and "2 of 2 verified" in out


def _perturbed_resnet18(**kwargs: object) -> nn.Module:
    """ResNet-18 with torchvision's parameters, whose outputs are 0.1% off."""
    model = resnet.resnet18(**kwargs)
    model.register_forward_hook(lambda module, args, output: output * 1.001)
    return model


def _resnet18_failing_on_small_images(**kwargs: object) -> nn.Module:
    """ResNet-18 that raises on images the reference takes."""
    model = resnet.resnet18(**kwargs)

    def refuse(module: nn.Module, args: tuple) -> None:
        if args[0].shape[-1] < 64:
            raise RuntimeError("boom: too small")

    model.register_forward_pre_hook(refuse)
    return model


@pytest.mark.parametrize(
    ("builder", "detail"),
    [
        (resnet.resnet34, "parameter counts differ"),
        (_perturbed_resnet18, "outputs differ"),
        (_resnet18_failing_on_small_images, "FAIL (raised RuntimeError where the reference runs: boom: too small)"),
    ],
)
def test_verify_exits_1_on_a_mismatch(swap_spec, capsys, builder, detail) -> None:
    swap_spec(replace(registry.get_spec("resnet18"), builder=builder))
    assert main(["verify", "resnet18", "--image-size", "32"]) == 1
    out = capsys.readouterr().out
    assert detail in out and "1 FAILED" in out


def test_verify_reports_a_model_that_does_not_fit_the_image_size_and_goes_on(capsys) -> None:
    assert main(["verify", "densenet121", "resnet18", "--image-size", "8"]) == 2  # as summary does for this case
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[2:4]}
    assert rows["densenet121"].endswith(
        "unfit (image size 8 does not fit: Given input size: (256x1x1). Calculated output size: (256x0x0). "
        "Output size is too small)"
    )
    assert rows["resnet18"].endswith(" ok")
    assert out[-1] == "1 of 2 verified, 1 not run: --image-size 8 does not fit"


def test_verify_fails_when_the_paper_table_disagrees(swap_spec, capsys) -> None:
    spec = registry.get_spec("resnet20")
    swap_spec(replace(spec, reference=replace(spec.reference, params="0.30")))
    assert main(["verify", "resnet20"]) == 1
    assert "does not round" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["verify", "resnt50"], "unknown model 'resnt50'; did you mean resnet50"),
        (["summary", "densenet999"], "unknown model 'densenet999'"),
        (["summary", "resnet18", "--input-size", "3", "0", "64"], "expected a positive integer, got '0'"),
        (["summary", "resnet18", "--input-size", "1", "64", "64"], "does not fit resnet18"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], expected: str, capsys) -> None:
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert expected in captured.err and len(captured.err.strip().splitlines()) == 1
    assert captured.out == ""


def test_the_command_exits_2_with_one_line_and_no_traceback() -> None:
    """The real entry point, in a process of its own: exit code and stderr as a shell sees them."""
    result = run("verify", "resnt50")
    assert result.returncode == 2, result.stderr
    expected = "python -m refimpl: error: unknown model 'resnt50'; did you mean resnet50, resnet56, resnet20?\n"
    assert result.stderr == expected
    assert result.stdout == ""


def test_summary_out_of_memory_blames_the_batch(monkeypatch, capsys) -> None:
    """torchinfo wraps the allocation failure; the message must name --batch-size, not the input size."""

    def exhausted(*args: object, **kwargs: object) -> None:
        try:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes")
        except RuntimeError as err:
            raise RuntimeError("Failed to run torchinfo. See above stack traces for more details.") from err

    monkeypatch.setattr("refimpl.tools.inspection.summary", exhausted)
    assert main(["summary", "resnet18", "--batch-size", "4096"]) == 2
    err = capsys.readouterr().err
    assert "out of memory for a batch of 4096 at (3, 224, 224); lower --batch-size" in err
    assert len(err.strip().splitlines()) == 1
