"""Every model of the project, declared once.

A declaration says which builder makes the model, which family (model file) it
belongs to, what it is verified against, which checkpoints it can load and how
their images are prepared. The registry (``create_model``, ``list_models``),
the weights loader, ``verify``, the training command, the tests and the site
all read these declarations; none of them names a model.

The model files know nothing of this module: copy one and it still works.
To add a model, add its builder to its model file and one line here; to add a
family, see CONTRIBUTING.md.
"""

from __future__ import annotations

from refimpl import densenet, preact_resnet, resnet, senet
from refimpl.modelspec import ModelSpec, Reference, timm_preprocessing

__all__ = ["SPECS"]

HE_T6 = "He et al. 2015, table 6"  # arXiv:1512.03385, the CIFAR-10 ResNets
HUANG_T2 = "Huang et al. 2017, table 2"  # arXiv:1608.06993, DenseNet-BC on CIFAR
TV, TIMM, PAPER = Reference.torchvision, Reference.timm, Reference.paper

# The ImageNet models take small_input=True (a 3x3 stem for 32x32 images); the CIFAR ones are built for 32x32.
IMAGENET = {"input_size": 224, "num_classes": 1000, "small_input": True}
CIFAR = {"input_size": 32, "num_classes": 10, "small_input": False}

_specs = [
    ModelSpec("resnet18", resnet.resnet18, "resnet", "ResNet", TV("resnet18"), **IMAGENET),
    ModelSpec("resnet34", resnet.resnet34, "resnet", "ResNet", TV("resnet34"), **IMAGENET),
    ModelSpec("resnet50", resnet.resnet50, "resnet", "ResNet", TV("resnet50"), **IMAGENET),
    ModelSpec("resnet101", resnet.resnet101, "resnet", "ResNet", TV("resnet101"), **IMAGENET),
    ModelSpec("resnet152", resnet.resnet152, "resnet", "ResNet", TV("resnet152"), **IMAGENET),
    ModelSpec("resnext50_32x4d", resnet.resnext50_32x4d, "resnet", "ResNeXt", TV("resnext50_32x4d"), **IMAGENET),
    ModelSpec("resnext101_32x8d", resnet.resnext101_32x8d, "resnet", "ResNeXt", TV("resnext101_32x8d"), **IMAGENET),
    ModelSpec("resnext101_64x4d", resnet.resnext101_64x4d, "resnet", "ResNeXt", TV("resnext101_64x4d"), **IMAGENET),
    ModelSpec("wide_resnet50_2", resnet.wide_resnet50_2, "resnet", "Wide ResNet", TV("wide_resnet50_2"), **IMAGENET),
    ModelSpec("wide_resnet101_2", resnet.wide_resnet101_2, "resnet", "Wide ResNet", TV("wide_resnet101_2"), **IMAGENET),
    ModelSpec("resnet20", resnet.resnet20, "resnet", "CIFAR ResNet", PAPER(HE_T6, "0.27"), **CIFAR),
    ModelSpec("resnet32", resnet.resnet32, "resnet", "CIFAR ResNet", PAPER(HE_T6, "0.46"), **CIFAR),
    ModelSpec("resnet44", resnet.resnet44, "resnet", "CIFAR ResNet", PAPER(HE_T6, "0.66"), **CIFAR),
    ModelSpec("resnet56", resnet.resnet56, "resnet", "CIFAR ResNet", PAPER(HE_T6, "0.85"), **CIFAR),
    ModelSpec("resnet110", resnet.resnet110, "resnet", "CIFAR ResNet", PAPER(HE_T6, "1.7"), **CIFAR),
]

# torchvision's DenseNet checkpoints use pre-PyTorch-0.4 key names, renamed on loading
DN = {**IMAGENET, "classifier": "classifier", "adapt_state_dict": densenet.rename_legacy_keys}
DN_CIFAR = {**CIFAR, "classifier": "classifier"}
BC = "CIFAR DenseNet-BC"
_specs += [
    ModelSpec("densenet121", densenet.densenet121, "densenet", "DenseNet", TV("densenet121"), **DN),
    ModelSpec("densenet161", densenet.densenet161, "densenet", "DenseNet", TV("densenet161"), **DN),
    ModelSpec("densenet169", densenet.densenet169, "densenet", "DenseNet", TV("densenet169"), **DN),
    ModelSpec("densenet201", densenet.densenet201, "densenet", "DenseNet", TV("densenet201"), **DN),
    ModelSpec("densenet_bc_100", densenet.densenet_bc_100, "densenet", BC, PAPER(HUANG_T2, "0.8"), **DN_CIFAR),
    ModelSpec("densenet_bc_250", densenet.densenet_bc_250, "densenet", BC, PAPER(HUANG_T2, "15.3"), **DN_CIFAR),
    ModelSpec("densenet_bc_190", densenet.densenet_bc_190, "densenet", BC, PAPER(HUANG_T2, "25.6"), **DN_CIFAR),
]

# timm's checkpoints on the Hugging Face hub with timm's evaluation transform (its pretrained_cfg's input
# size and crop_pct, bicubic); the first tag is timm's default. a3_in1k was trained at 160x160.
SE50 = {
    "a1_in1k": timm_preprocessing(224, 0.95),
    "a2_in1k": timm_preprocessing(224, 0.95),
    "a3_in1k": timm_preprocessing(160, 0.95),
    "ra2_in1k": timm_preprocessing(224, 0.875),
}
SEX50 = {"racm_in1k": timm_preprocessing(224, 0.875), "gluon_in1k": timm_preprocessing(224, 0.875)}
# timm's legacy_seresnet18/34 keep r = 16 but pool differently (see refimpl/senet.py): parameter counts only
_specs += [
    ModelSpec("se_resnet18", senet.se_resnet18, "senet", "SE-ResNet", TIMM("legacy_seresnet18", False), **IMAGENET),
    ModelSpec("se_resnet34", senet.se_resnet34, "senet", "SE-ResNet", TIMM("legacy_seresnet34", False), **IMAGENET),
    ModelSpec("se_resnet50", senet.se_resnet50, "senet", "SE-ResNet", TIMM("seresnet50"), hub_weights=SE50, **IMAGENET),
    ModelSpec("se_resnet101", senet.se_resnet101, "senet", "SE-ResNet", TIMM("seresnet101"), **IMAGENET),
    ModelSpec("se_resnet152", senet.se_resnet152, "senet", "SE-ResNet", TIMM("seresnet152"), **IMAGENET),
    ModelSpec(
        "se_resnext50_32x4d",
        senet.se_resnext50_32x4d,
        "senet",
        "SE-ResNeXt",
        TIMM("seresnext50_32x4d"),
        hub_weights=SEX50,
        **IMAGENET,
    ),
]

# Pre-activation ResNets. ImageNet: timm's resnetv2_50/101 (keys renamed by the model file's adapter; timm's
# classifier is a 1x1 convolution, ours nn.Linear: outputs agree to float32 rounding). Named preact_resnet*, not
# resnetv2_*: "v2" would read as torchvision's IMAGENET1K_V2 weights, and the CIFAR models share the prefix.
# timm's a1h_in1k checkpoints normalise with mean = std = 0.5.
PA = {**IMAGENET, "adapt_state_dict": preact_resnet.rename_timm_keys}
A1H = {"a1h_in1k": timm_preprocessing(224, 0.95, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))}
# He et al. 2016 (arXiv:1603.05027), table 4 on CIFAR: 1.7M for ResNet-164 and for ResNet-110 (the original unit;
# the pre-activation one has as many weights), 10.2M for ResNet-1001, a count without BN's parameters (10.3M with)
HE16_T4 = "He et al. 2016, table 4"
PRE, PRE_CIFAR = "Pre-act ResNet", "CIFAR pre-act ResNet"
_specs += [
    ModelSpec(
        "preact_resnet50",
        preact_resnet.preact_resnet50,
        "preact_resnet",
        PRE,
        TIMM("resnetv2_50", exact=False),
        hub_weights=A1H,
        **PA,
    ),
    ModelSpec(
        "preact_resnet101",
        preact_resnet.preact_resnet101,
        "preact_resnet",
        PRE,
        TIMM("resnetv2_101", exact=False),
        hub_weights=A1H,
        **PA,
    ),
    ModelSpec(
        "preact_resnet110", preact_resnet.preact_resnet110, "preact_resnet", PRE_CIFAR, PAPER(HE16_T4, "1.7"), **CIFAR
    ),
    ModelSpec(
        "preact_resnet164", preact_resnet.preact_resnet164, "preact_resnet", PRE_CIFAR, PAPER(HE16_T4, "1.7"), **CIFAR
    ),
    ModelSpec(
        "preact_resnet1001",
        preact_resnet.preact_resnet1001,
        "preact_resnet",
        PRE_CIFAR,
        PAPER(HE16_T4, "10.2", counts_norm=False),
        **CIFAR,
    ),
]

SPECS: dict[str, ModelSpec] = {spec.name: spec for spec in _specs}
"""Every model: name -> declaration, in the order of the tables on the site."""
