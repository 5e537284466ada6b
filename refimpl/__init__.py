"""Reference implementations of ResNet, DenseNet and SE-Net.

Each architecture is one readable file (``refimpl/resnet.py``, ...) that loads
the official weights unchanged. This package adds a registry, pretrained
weights, inspection helpers and verification against independent references.
"""

from refimpl.tools.registry import ModelSpec, create_model, get_spec, list_models

__all__ = ["ModelSpec", "create_model", "get_spec", "list_models"]
__version__ = "0.1.0"
