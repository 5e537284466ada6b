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
# This page is a notebook executed while the site is built: every output
# below was produced by the code above it, on the build machine's CPU.
#
# A residual block computes $y = \mathcal{F}(x) + x$. Build one network of
# each kind by name and check what it does to a batch of images.

# %%
import torch

from refimpl import create_model, list_models
from refimpl.tools.inspection import count_parameters

torch.manual_seed(0)
print(list_models())

# %% [markdown]
# ResNet-50 with random weights: 1,000 logits for each image. The same call
# with `weights="IMAGENET1K_V2"` loads torchvision's checkpoint unchanged.

# %%
model = create_model("resnet50").eval()
with torch.no_grad():
    logits = model(torch.randn(2, 3, 224, 224))
print(f"{count_parameters(model):,} parameters; output shape {tuple(logits.shape)}")

# %% [markdown]
# The paper's CIFAR-10 ResNet-20 keeps its shortcuts free of parameters, so
# its depth adds only the convolutions of the residual branches.

# %%
cifar = create_model("resnet20").eval()
with torch.no_grad():
    print(tuple(cifar(torch.randn(4, 3, 32, 32)).shape), f"{count_parameters(cifar):,} parameters")
