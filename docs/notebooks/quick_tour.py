# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A quick tour
#
# This page is a notebook: every output below was produced by the code above
# it (the machine and the date are at the top of the page).
#
# Build one network of each kind by name (a ResNet, a pre-activation ResNet, a
# DenseNet, an SE-ResNet) and check what it does to a batch of images.

# %%
import torch

from refimpl import create_model, list_models
from refimpl.tools.inspection import count_parameters

torch.manual_seed(0)
print(list_models())

# %% [markdown]
# One network of each kind, with random weights, on two 224x224 images: each
# gives 1,000 logits an image. The same call with `weights="DEFAULT"` loads the
# published checkpoint unchanged (torchvision's for the ResNet and the DenseNet,
# timm's for the other two).

# %%
for name in ("resnet50", "preact_resnet50", "densenet121", "se_resnet50"):
    model = create_model(name).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 224, 224))
    print(f"{name:16} {count_parameters(model):>11,} parameters, output {tuple(logits.shape)}")

# %% [markdown]
# The paper's CIFAR-10 ResNet-20 keeps its shortcuts free of parameters, so
# its depth adds only the convolutions of the residual branches.

# %%
cifar = create_model("resnet20").eval()
with torch.no_grad():
    print(tuple(cifar(torch.randn(4, 3, 32, 32)).shape), f"{count_parameters(cifar):,} parameters")
