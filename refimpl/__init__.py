"""Reference implementations of ResNet, pre-activation ResNet, DenseNet and SE-Net.

Each family is one readable file (``refimpl/resnet.py``, ...) that loads the
official weights unchanged; ``refimpl/specs.py`` declares every model once, in
the fields of ``refimpl/modelspec.py``.
``refimpl/tools/`` holds the machinery: the registry, pretrained weights,
counting, verification against independent references, data and training.
"""

from refimpl.modelspec import ModelSpec, Preprocessing, Reference
from refimpl.tools.registry import create_model, get_spec, list_models, preprocessing

__all__ = ["ModelSpec", "Preprocessing", "Reference", "create_model", "get_spec", "list_models", "preprocessing"]
__version__ = "0.1.0"
