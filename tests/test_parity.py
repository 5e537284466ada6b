"""Every model against the implementation it is declared to match (``Reference.torchvision``, ``Reference.timm``).

Parametrised over the declarations in ``refimpl/specs.py``: a model or a family
added there is held to these contracts without new test code. The references
are built here, with random weights, not by ``refimpl.tools.verify`` (which
``test_cli.py`` tests).
"""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from helpers import (
    ALL_MODELS,
    MODEL_REFERENCE_MODELS,
    OUTPUT_REFERENCE_MODELS,
    TORCHVISION_REFERENCE_MODELS,
    assert_same_function,
    imagenet_or_own_size,
)
from torch import nn

from refimpl import get_spec
from refimpl.modelspec import ModelSpec
from refimpl.tools.inspection import count_parameters, model_cost
from refimpl.tools.verify import randomize_batch_norms


def _reference(spec: ModelSpec) -> nn.Module:
    """The independent implementation, randomly initialised."""
    if spec.reference.source == "torchvision":
        return torchvision.models.get_model(spec.reference.name, weights=None)
    assert spec.reference.source == "timm", f"{spec.name}: no implementation to build for {spec.reference}"
    return timm.create_model(spec.reference.name, pretrained=False)


@pytest.mark.parametrize("name", ALL_MODELS)
def test_the_declaration_matches_its_builder(name: str) -> None:
    """Name, family (the model file), classifier, number of classes and small_input are the builder's."""
    spec = get_spec(name)
    assert spec.builder.__name__ == name
    assert spec.builder.__module__ == f"refimpl.{spec.family}"
    if not spec.small_input:
        with pytest.raises(TypeError):
            spec.builder(small_input=True)
    with torch.device("meta"):  # one build (the others build the default): the stem does not change the head
        model = spec.builder(small_input=True) if spec.small_input else spec.builder()
    head = getattr(model, spec.classifier)
    assert type(head) is nn.Linear and head.out_features == spec.num_classes


@pytest.mark.parametrize("name", MODEL_REFERENCE_MODELS)
def test_parameter_count_equals_the_reference(name: str) -> None:
    """Also where the reference computes a slightly different function (``compare_outputs=False``)."""
    spec = get_spec(name)
    with torch.device("meta"):
        assert count_parameters(spec.builder()) == count_parameters(_reference(spec))


@pytest.mark.parametrize("name", OUTPUT_REFERENCE_MODELS)
def test_reference_weights_load_strictly_and_compute_the_same_function(name: str) -> None:
    """Exact outputs in eval and train mode, gradients and running statistics, after a strict load.

    The reference's keys go through the spec's ``adapt_state_dict``. "Exact" is
    bit for bit, or to float32 rounding where the spec says the reference runs
    other kernels (``Reference.exact``).

    The BN layers get random statistics first: timm zero-initialises the last BN
    of each residual branch, which would silence the branch (and SE with it),
    and torchvision's zero means and unit variances would hide a mix-up of them.
    """
    spec = get_spec(name)
    reference = randomize_batch_norms(_reference(spec))
    with torch.device("meta"):  # no initialisation to overwrite: the reference's weights are loaded in its place
        model = spec.builder()
    state_dict = {key: value.clone() for key, value in reference.state_dict().items()}  # no shared BN statistics
    # through the model file's checkpoint adapter, as the weights loader applies it
    model.load_state_dict(spec.adapt(state_dict), strict=True, assign=True)  # every key and every shape
    assert not [key for key, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    size = imagenet_or_own_size(spec)
    exact = spec.reference.exact
    assert_same_function(reference, model, torch.randn(2, 3, size, size), spec.adapt, exact)


@pytest.mark.parametrize("name", TORCHVISION_REFERENCE_MODELS)
def test_cost_equals_torchvisions_weights_metadata(name: str) -> None:
    """torchvision's "GFLOPS" (``_ops``) are GMACs at 224x224, rounded to 3 decimals."""
    params, macs = model_cost(name)
    published = list(torchvision.models.get_model_weights(get_spec(name).reference.name))
    assert published
    for weights in published:
        assert params == weights.meta["num_params"], weights
        assert round(macs / 1e9, 3) == pytest.approx(weights.meta["_ops"], abs=1e-9), weights
