"""torch.hub: ``hubconf.py`` at the repository root offers every registry model under its name, offline here.

``torch.hub.load(dir, name, source="local")`` reads a local folder. This
PyTorch's ``torch.hub.list`` and ``torch.hub.help`` read GitHub repositories
only; the tests hand them this checkout in place of the download
(``torch.hub._get_cache_or_reload``), so the rest of their code, which picks
the entries and their docstrings, is PyTorch's own.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from pathlib import Path

import pytest
import torch
import torchvision
from helpers import ALL_MODELS, RunsCode

from refimpl import get_spec, list_models, preprocessing
from refimpl.tools.weights import WeightsUnavailableError, available_weights, cache_path, resolve_weights

ROOT = Path(__file__).resolve().parents[1]
REPO = "owner/refimpl"  # what a GitHub user would type; never downloaded


@pytest.fixture
def github_is_this_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.hub's download of a GitHub repository returns this checkout."""
    monkeypatch.setattr(torch.hub, "_get_cache_or_reload", lambda github, *args, **kwargs: str(ROOT))


def test_hub_lists_exactly_the_registry_models(github_is_this_checkout: None) -> None:
    """No helper of hubconf.py shows up as an entry, and no model is missing."""
    assert sorted(torch.hub.list(REPO)) == sorted(list_models())


def test_hub_help_shows_what_the_model_is_and_its_weights(github_is_this_checkout: None) -> None:
    for name in list_models():
        spec, doc = get_spec(name), torch.hub.help(REPO, name)
        assert doc.splitlines()[0].rstrip(".") in spec.builder.__doc__, name
        assert f"{spec.label}, verified against {spec.reference}" in doc, doc
        assert f'create_model("{name}", weights, **kwargs)' in doc, doc
        for weights in available_weights(spec):
            assert weights in doc, f"{name}: {weights} missing from\n{doc}"


def test_hub_entries_take_the_arguments_of_create_model() -> None:
    spec = importlib.util.spec_from_file_location("hubconf", ROOT / "hubconf.py")
    assert spec is not None and spec.loader is not None
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert hubconf.dependencies == ["torch", "torchvision"]
    for name in list_models():
        entry = getattr(hubconf, name)
        assert entry.__name__ == entry.__qualname__ == name
        parameters = inspect.signature(entry).parameters
        assert list(parameters) == ["weights", "kwargs"]
        assert parameters["weights"].default is None and parameters["kwargs"].kind is inspect.Parameter.VAR_KEYWORD


@pytest.mark.export
@pytest.mark.quick  # a second per model: the default run keeps every one
@pytest.mark.parametrize("name", ALL_MODELS)
def test_every_model_loads_through_the_hub(name: str) -> None:
    """The hub builds the model its builder declares, with the keyword arguments passed on."""
    spec = get_spec(name)
    with torch.device("meta"):  # shapes only: nothing is computed or initialised for real
        model = torch.hub.load(str(ROOT), name, source="local", num_classes=3)
    assert type(model) is inspect.signature(spec.builder).return_annotation
    assert getattr(model, spec.classifier).out_features == 3


def test_weights_go_through_the_hub(cache_checkpoint) -> None:
    """``weights=`` reaches ``create_model``: a cached (fake) checkpoint loads unchanged, with its preprocessing."""
    reference = torchvision.models.resnet18()
    cache_checkpoint("resnet18", "IMAGENET1K_V1", reference.state_dict())

    model = torch.hub.load(str(ROOT), "resnet18", source="local", weights="IMAGENET1K_V1")
    torch.testing.assert_close(model.state_dict(), reference.state_dict(), rtol=0, atol=0)
    assert model.preprocessing == preprocessing("resnet18", "IMAGENET1K_V1")
    tuned = torch.hub.load(str(ROOT), "resnet18", source="local", weights="DEFAULT", num_classes=10)
    assert tuned.fc.out_features == 10
    torch.testing.assert_close(tuned.layer4.state_dict(), reference.layer4.state_dict(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown weights 'IMAGENET1K_V3' for resnet18"):
        torch.hub.load(str(ROOT), "resnet18", source="local", weights="IMAGENET1K_V3")


def test_a_cached_file_that_runs_code_is_refused_through_the_hub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's entries load through ``create_model``: a code-running file under torchvision's name is never read."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    marker = tmp_path / "the file ran code"
    path = cache_path(resolve_weights(get_spec("resnet18"), "DEFAULT"))
    os.makedirs(os.path.dirname(path))
    torch.save({"fc.weight": RunsCode(marker)}, path)

    try:
        with pytest.raises(WeightsUnavailableError) as info:
            torch.hub.load(str(ROOT), "resnet18", source="local", weights="DEFAULT")
    finally:
        assert not marker.exists(), f"reading {path} ran the code it holds"
    message = str(info.value)
    assert path in message and "SHA-256" in message and "not cached" not in message and "\n" not in message, message
