"""torch.hub entry points: one per registry model, generated from ``refimpl/specs.py``.

From a clone of the repository in ``./refimpl``::

    import torch

    model = torch.hub.load("refimpl", "resnet50", source="local", weights="DEFAULT")

From GitHub, ``torch.hub.load("<owner>/refimpl", "resnet50", weights="DEFAULT")``,
and ``torch.hub.list("<owner>/refimpl")`` and ``torch.hub.help("<owner>/refimpl", "resnet50")``
show the entries and their docstrings (PyTorch's ``list`` and ``help`` read
GitHub repositories only, not local folders).

Each entry is ``create_model(name, weights=..., **kwargs)`` under the model's
name, with a docstring that says what the model is, what it is verified
against and which checkpoints it loads. ``torch.hub.list`` shows every public
callable of this module, so everything else here is private (``_``).
"""

from __future__ import annotations

from collections.abc import Callable as _Callable
from inspect import cleandoc as _cleandoc
from typing import Any as _Any

from torch import nn as _nn

from refimpl.modelspec import ModelSpec as _ModelSpec
from refimpl.specs import SPECS as _SPECS
from refimpl.tools.registry import create_model as _create_model
from refimpl.tools.weights import available_weights as _available_weights

dependencies = ["torch", "torchvision"]


def _docstring(spec: _ModelSpec) -> str:
    """The entry's docstring, what ``torch.hub.help`` prints: the builder's summary and the spec's facts."""
    summary = (spec.builder.__doc__ or spec.name).strip().splitlines()[0].split(" Keyword arguments go to")[0]
    names = _available_weights(spec)
    weights = f"None (random initialisation) or one of DEFAULT, {', '.join(names)}" if names else "None only"
    return _cleandoc(f"""
        {summary}

        {spec.label}, verified against {spec.reference}; {spec.input_size}x{spec.input_size} inputs,
        {spec.num_classes} classes. The same as ``refimpl.create_model("{spec.name}", weights, **kwargs)``.

        Args:
            weights: {weights}.
            **kwargs: passed to the builder (``num_classes``, ``zero_init_residual``, ...); with
                ``weights``, another ``num_classes`` gets a fresh classifier, ready for fine-tuning.

        Returns:
            The model, in training mode; with ``weights``, ``model.preprocessing`` says how to prepare its images.
        """)


def _entry(spec: _ModelSpec) -> _Callable[..., _nn.Module]:
    """The hub entry of one model: a function named after it, with its docstring."""

    def entry(weights: str | None = None, **kwargs: _Any) -> _nn.Module:
        return _create_model(spec.name, weights=weights, **kwargs)

    entry.__name__ = entry.__qualname__ = spec.name
    entry.__module__ = __name__
    entry.__doc__ = _docstring(spec)
    return entry


globals().update({_name: _entry(_spec) for _name, _spec in _SPECS.items()})
