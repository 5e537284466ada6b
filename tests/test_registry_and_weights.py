"""The registry, the official-weights loader and the checkpoints' preprocessing, with every download faked."""

from __future__ import annotations

import io
import math
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import timm
import timm.data
import torch
import torchvision
from helpers import HUB_WEIGHTS_MODELS, TORCHVISION_REFERENCE_MODELS, RunsCode
from PIL import Image
from timm.models import get_pretrained_cfg
from torch import nn

import refimpl
from refimpl import create_model, get_spec, list_models, preprocessing
from refimpl.specs import SPECS
from refimpl.tools.verify import RTOL, randomize_batch_norms
from refimpl.tools.weights import (
    BadCheckpointError,
    WeightsUnavailableError,
    available_weights,
    cache_path,
    expected_hash,
    hub_weights,
    resolve_weights,
)


def _first_per_classifier(names: list[str]) -> list[str]:
    """The first of ``names`` for each classifier attribute ("fc", "classifier", ...)."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(SPECS[name].classifier, name)
    return list(first.values())


def _image() -> Image.Image:
    """A random RGB image, neither square nor of a size any transform produces."""
    pixels = np.random.default_rng(0).integers(0, 256, (260, 300, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _official_path(name: str, weights: str = "DEFAULT") -> Path:
    """Where the file of ``weights`` of ``name`` lies in the cache under its published name (its folder made)."""
    path = Path(cache_path(resolve_weights(get_spec(name), weights)))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _refusal(name: str, path: Path, marker: Path | None = None) -> str:
    """The one-line message of ``create_model(name, weights="DEFAULT")`` refusing the cached ``path``.

    With ``marker``, the folder a code-running file would create: checked first, whatever was raised.
    """
    try:
        with pytest.raises(BadCheckpointError) as info:
            create_model(name, weights="DEFAULT")
    finally:
        assert marker is None or not marker.exists(), f"reading {path} ran the code it holds"
    message = str(info.value)
    assert "\n" not in message and str(path) in message, message
    assert "not cached" not in message and "delete it to download it again" in message, message  # it is there
    return message


# --- the registry -------------------------------------------------------------------------------------------------


def test_every_declared_model_is_listed_under_its_name() -> None:
    assert list_models() == list(SPECS)
    for name in list_models():
        assert get_spec(name) is SPECS[name] and SPECS[name].name == name


def test_unknown_model_names_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'resnet5'; did you mean .*resnet50"):
        create_model("resnet5")


def test_builder_options_pass_through() -> None:
    with torch.device("meta"):
        assert create_model("resnet18", num_classes=3).fc.out_features == 3


def test_a_swapped_spec_is_what_the_registry_builds(swap_spec) -> None:
    """The fixture other tests use to break a model on purpose."""
    swap_spec(replace(get_spec("resnet18"), builder=lambda **kwargs: nn.Linear(1, 1)))
    assert isinstance(create_model("resnet18"), nn.Linear)
    with pytest.raises(KeyError, match="no declared model 'resnet19'"):
        swap_spec(replace(get_spec("resnet18"), name="resnet19"))


# --- which checkpoints, under which names -------------------------------------------------------------------------


def test_default_weights_are_v2_where_they_exist() -> None:
    """torchvision's old `pretrained=True` meant V1; DEFAULT is the better V2."""
    assert resolve_weights(get_spec("resnet50"), "DEFAULT") is torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    assert resolve_weights(get_spec("resnet18"), "DEFAULT") is torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert resolve_weights(get_spec("resnet50"), "ResNet50_Weights.IMAGENET1K_V1").name == "IMAGENET1K_V1"
    assert available_weights(get_spec("resnet50")) == ["IMAGENET1K_V1", "IMAGENET1K_V2"]


def test_unknown_weights_say_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="accepted: DEFAULT, IMAGENET1K_V1$"):
        create_model("resnet18", weights="IMAGENET1K_V9")
    with pytest.raises(ValueError, match="no published weights"):
        create_model("resnet20", weights="DEFAULT")


def test_pretrained_true_is_refused_naming_the_accepted_tags() -> None:
    """The habit of torchvision's deprecated ``pretrained=True``."""
    with pytest.raises(TypeError, match=r"got True; for resnet50 accepted: DEFAULT, IMAGENET1K_V1, IMAGENET1K_V2$"):
        create_model("resnet50", weights=True)


def test_another_models_weights_are_refused() -> None:
    """A full name must carry this model's enum: ResNet-18's V1 would not even load into ResNet-50."""
    with pytest.raises(ValueError, match=r"unknown weights 'ResNet18_Weights.IMAGENET1K_V1' for resnet50"):
        create_model("resnet50", weights="ResNet18_Weights.IMAGENET1K_V1")


def test_weights_refuse_the_small_input_stem() -> None:
    with pytest.raises(ValueError, match="small_input=False"):
        create_model("resnet18", weights="DEFAULT", small_input=True)


@pytest.mark.parametrize("name", HUB_WEIGHTS_MODELS)
def test_hub_weights_are_timms_published_checkpoints(name: str) -> None:
    """Every tag timm publishes for the reference, timm's default first, at the URL timm downloads."""
    spec = get_spec(name)
    tags = [n.split(".", 1)[1] for n in timm.list_pretrained(f"{spec.reference.name}.*")]
    assert sorted(spec.hub_weights) == sorted(tags)
    assert str(resolve_weights(spec, "DEFAULT")) == get_pretrained_cfg(spec.reference.name).hf_hub_id
    for tag in spec.hub_weights:
        entry = hub_weights(spec, tag)
        assert resolve_weights(spec, tag) == entry
        # timm's default file name on the hub; timm reads model.safetensors instead when safetensors is installed
        hf_hub_id = get_pretrained_cfg(f"{spec.reference.name}.{tag}").hf_hub_id
        assert entry.url == f"https://huggingface.co/{hf_hub_id}/resolve/main/pytorch_model.bin"


def test_hub_checkpoints_have_distinct_cache_files() -> None:
    """Hugging Face calls every file pytorch_model.bin; the cache must not."""
    files = [hub_weights(SPECS[n], tag).file_name for n in HUB_WEIGHTS_MODELS for tag in SPECS[n].hub_weights]
    assert len(files) > 1 and len(set(files)) == len(files)


# --- preprocessing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TORCHVISION_REFERENCE_MODELS)
def test_preprocessing_of_torchvision_checkpoints_is_torchvisions(name: str) -> None:
    """Field by field, for every published checkpoint: crop, resize, interpolation, mean, std."""
    for weights in torchvision.models.get_model_weights(get_spec(name).reference.name):
        theirs = weights.transforms()
        ours = preprocessing(name, weights.name)
        assert [ours.crop_size] == theirs.crop_size and [ours.resize_size] == theirs.resize_size, weights
        assert ours.interpolation == theirs.interpolation.value
        assert list(ours.mean) == theirs.mean and list(ours.std) == theirs.std


@pytest.mark.parametrize(("weights", "resize"), [("IMAGENET1K_V1", 256), ("IMAGENET1K_V2", 232)])
def test_preprocessing_transforms_an_image_as_torchvision_does(weights: str, resize: int) -> None:
    prep = preprocessing("resnet50", weights)
    assert (prep.resize_size, prep.crop_size) == (resize, 224)
    image = _image()
    expected = torchvision.models.ResNet50_Weights[weights].transforms()(image)
    torch.testing.assert_close(prep.transforms()(image), expected, rtol=0, atol=1e-5)


def test_preprocessing_refuses_a_numpy_array_as_torchvision_does() -> None:
    """torchvision's v2 transforms pass an array through unresized and uncropped; ``weights.transforms()`` refuses it."""
    array = np.array(_image())  # (H, W, 3) uint8, writable
    with pytest.raises(TypeError):
        torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()(array)
    with pytest.raises(
        TypeError, match=r"takes a PIL image or an image tensor \(C, H, W\), got numpy.ndarray; "
    ) as info:
        preprocessing("resnet50").transforms()(array)
    assert "PIL.Image.fromarray(array)" in str(info.value) and "\n" not in str(info.value)
    tensor = torch.from_numpy(array).permute(2, 0, 1)  # what is accepted: a PIL image, or a (C, H, W) tensor
    assert preprocessing("resnet50").transforms()(tensor).shape == (3, 224, 224)


def test_default_preprocessing_is_the_default_checkpoints() -> None:
    assert preprocessing("resnet50") == preprocessing("resnet50", "IMAGENET1K_V2")
    assert preprocessing("resnet50") != preprocessing("resnet50", "IMAGENET1K_V1")
    assert preprocessing("se_resnet50") == preprocessing("se_resnet50", "a1_in1k")
    with pytest.raises(ValueError, match="no published weights"):
        preprocessing("resnet20")


@pytest.mark.parametrize(
    ("name", "tag"), [(name, tag) for name in HUB_WEIGHTS_MODELS for tag in get_spec(name).hub_weights]
)
def test_preprocessing_of_hub_checkpoints_is_timms(name: str, tag: str) -> None:
    """timm's pretrained_cfg: crop = the input size, resize = floor(crop / crop_pct); and the same image out."""
    cfg = get_pretrained_cfg(f"{get_spec(name).reference.name}.{tag}")
    prep = preprocessing(name, tag)
    assert prep == get_spec(name).hub_weights[tag]
    assert prep.crop_size == cfg.input_size[-1] == cfg.input_size[-2]
    assert prep.resize_size == math.floor(prep.crop_size / cfg.crop_pct)
    assert (prep.interpolation, prep.mean, prep.std) == (cfg.interpolation, cfg.mean, cfg.std)
    image = _image()
    timms = timm.data.create_transform(**timm.data.resolve_data_config({}, pretrained_cfg=cfg.to_dict()))
    torch.testing.assert_close(prep.transforms()(image), timms(image), rtol=0, atol=1e-5)


# --- loading, offline ---------------------------------------------------------------------------------------------


def test_offline_without_cache_names_the_missing_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    entry = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    with pytest.raises(WeightsUnavailableError) as info:
        create_model("resnet18", weights="IMAGENET1K_V1")
    message = str(info.value)
    expected = os.path.join(str(tmp_path), "hub", "checkpoints", "resnet18-f37072fd.pth")
    assert cache_path(entry) == expected
    assert expected in message and entry.url in message and "\n" not in message


def test_cached_checkpoint_loads_without_network(cache_checkpoint) -> None:
    """A checkpoint in torch.hub's cache (named by its hash) is read unchanged, with its preprocessing."""
    reference = torchvision.models.resnet18().eval()
    cache_checkpoint("resnet18", "IMAGENET1K_V1", reference.state_dict())

    model = create_model("resnet18", weights="DEFAULT").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    assert model.preprocessing == refimpl.Preprocessing(crop_size=224, resize_size=256)


@pytest.mark.parametrize("name", HUB_WEIGHTS_MODELS)
def test_a_cached_hub_checkpoint_loads_and_gives_timms_outputs(name: str, cache_checkpoint) -> None:
    """timm's state dict, as its checkpoint file holds it, loads through the spec's ``adapt_state_dict``."""
    spec = get_spec(name)
    reference = randomize_batch_norms(timm.create_model(spec.reference.name)).eval()
    path = cache_checkpoint(name, "DEFAULT", reference.state_dict())
    assert path.name == hub_weights(spec, next(iter(spec.hub_weights))).file_name  # no hash: the published name

    model = create_model(name, weights="DEFAULT").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = reference(x)
        tolerance = 0.0 if spec.reference.exact else RTOL * expected.abs().max().item()
        torch.testing.assert_close(model(x), expected, rtol=0, atol=tolerance)
    assert model.preprocessing == next(iter(spec.hub_weights.values()))  # the default checkpoint's


@pytest.mark.parametrize("name", _first_per_classifier(TORCHVISION_REFERENCE_MODELS))
def test_weights_with_another_num_classes_get_a_fresh_classifier(name: str, cache_checkpoint) -> None:
    """Ready for fine-tuning, as timm does: every weight the checkpoint's but a new ``nn.Linear`` head."""
    spec = get_spec(name)
    reference = torchvision.models.get_model(spec.reference.name)
    cache_checkpoint(name, "DEFAULT", reference.state_dict())

    model = create_model(name, weights="DEFAULT", num_classes=10)
    head, old = getattr(model, spec.classifier), getattr(reference, spec.classifier)
    assert type(head) is nn.Linear and (head.in_features, head.out_features) == (old.in_features, 10)
    assert torch.count_nonzero(head.bias) == 0 and torch.count_nonzero(head.weight) == head.weight.numel()
    assert not torch.equal(head.weight, old.weight[:10])
    body = {k: v for k, v in model.state_dict().items() if not k.startswith(f"{spec.classifier}.")}
    expected = {k: v for k, v in reference.state_dict().items() if not k.startswith(f"{spec.classifier}.")}
    torch.testing.assert_close(body, expected, rtol=0, atol=0)
    assert model.preprocessing == preprocessing(name, "DEFAULT")
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


# --- what a cached file may not do or be ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "named_by_its_hash"),
    [("resnet18", False), ("densenet121", False), ("resnet18", True), ("se_resnet50", True)],
)
def test_a_cached_file_that_runs_code_is_refused_unread(
    name: str, named_by_its_hash: bool, tmp_path: Path, cache_checkpoint
) -> None:
    """torchvision's ``get_state_dict`` unpickles a cached file in full: a file in the cache ran its code.

    Under torchvision's name (``resnet18-f37072fd.pth``) the hash in the name
    refuses it before anything is unpickled; named by its own hash, or under a
    Hugging Face file's name (no hash), ``weights_only=True`` refuses it.
    """
    marker = tmp_path / "the file ran code"
    content = {"fc.weight": RunsCode(marker)}
    if named_by_its_hash:
        path = cache_checkpoint(name, "DEFAULT", content)
    else:
        torch.save(content, path := _official_path(name))
    message = _refusal(name, path, marker)
    reason = "cannot be read as a checkpoint of tensors (UnpicklingError" if named_by_its_hash else "SHA-256 begins"
    assert reason in message, message


@pytest.mark.parametrize(
    ("name", "value", "named_by_its_hash", "reason"),
    [
        ("resnet18", None, False, "is not the published file: its SHA-256 begins"),  # random weights
        ("densenet121", math.nan, False, "is not the published file: its SHA-256 begins"),
        ("resnet18", math.nan, True, "holds NaN or infinite values in layer1.0.conv1.weight"),
        ("se_resnet50", math.nan, True, "holds NaN or infinite values in layer1.0.conv1.weight"),
        ("se_resnet50", math.inf, True, "holds NaN or infinite values in layer1.0.conv1.weight"),
    ],
)
def test_random_or_nonfinite_weights_in_the_cache_are_refused(
    name: str, value: float | None, named_by_its_hash: bool, reason: str, cache_checkpoint
) -> None:
    """What a file under an official name holds is checked: its hash, or (Hugging Face: no hash) finite values."""
    state_dict = create_model(name).state_dict()  # random weights
    if value is not None:
        key = "features.conv0.weight" if name.startswith("densenet") else "layer1.0.conv1.weight"
        state_dict[key].view(-1)[0] = value
    if named_by_its_hash:
        path = cache_checkpoint(name, "DEFAULT", state_dict)
    else:
        torch.save(state_dict, path := _official_path(name))
    assert reason in _refusal(name, path)


@pytest.mark.parametrize("name", ["resnet18", "se_resnet50"])
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "is empty"),
        (b"not a checkpoint, " * 10, "cannot be read as a checkpoint of tensors"),
        ("truncated", "cannot be read as a checkpoint of tensors (RuntimeError: PytorchStreamReader failed"),
        ([torch.zeros(1)], "holds a list, not a state dict"),
        ({"fc.weight": 1.0}, "holds a float under 'fc.weight', not a state dict of tensors only"),
        ({"state_dict": {"fc.weight": torch.zeros(1)}}, "holds a dict under 'state_dict'"),
    ],
)
def test_an_unreadable_cached_file_is_refused_in_one_line(
    name: str, content: object, reason: str, cache_checkpoint
) -> None:
    """Not "not cached": the file is there, and the message says what is wrong with it (hash right, or none)."""
    if content == "truncated":
        buffer = io.BytesIO()
        torch.save(create_model(name).state_dict(), buffer)
        content = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    assert reason in _refusal(name, cache_checkpoint(name, "DEFAULT", content))


@pytest.mark.parametrize(("name", "named_by_its_hash"), [("resnet18", True), ("se_resnet50", False)])
def test_a_checkpoint_with_other_keys_is_refused_in_one_line(name: str, named_by_its_hash: bool, cache_checkpoint):
    """PyTorch would list every key on many lines; the message names the file and the first keys."""
    state_dict = create_model(name).state_dict()
    del state_dict["fc.bias"]
    state_dict["fc.extra"] = torch.zeros(1)
    path = cache_checkpoint(name, "DEFAULT", state_dict)
    assert "does not fit the model (missing: fc.bias; unexpected: fc.extra)" in _refusal(name, path)
    state_dict = create_model(name, num_classes=10).state_dict()  # a head of another shape
    path = cache_checkpoint(name, "DEFAULT", state_dict)
    assert "does not fit the model (of another shape: fc.weight, fc.bias)" in _refusal(name, path)


@pytest.mark.parametrize("name", ["resnet18", "se_resnet50"])
def test_a_download_is_checked_as_a_cached_file_is(name: str, tmp_path: Path, monkeypatch) -> None:
    """The file downloaded where the cache keeps it, with torch.hub's hash check, and then checked and read as one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    marker = tmp_path / "the file ran code"
    entry = resolve_weights(get_spec(name), "DEFAULT")
    downloads = []

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        downloads.append((url, dst, hash_prefix))
        torch.save({"fc.weight": RunsCode(marker)}, dst)  # a server that hands out a malicious file

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    _refusal(name, Path(cache_path(entry)), marker)
    assert downloads == [(entry.url, cache_path(entry), expected_hash(entry))]


def test_a_downloaded_checkpoint_loads(tmp_path: Path, monkeypatch) -> None:
    """The download itself: the file lands in the cache under its name and loads, and the next call reads it there."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reference = create_model("se_resnet50")

    def download(url: str, dst: str, hash_prefix: str | None = None, progress: bool = True) -> None:
        torch.save(reference.state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    torch.testing.assert_close(create_model("se_resnet50", weights="a2_in1k").state_dict(), reference.state_dict())
    assert os.listdir(tmp_path / "hub" / "checkpoints") == ["timm_seresnet50.a2_in1k.bin"]


def test_every_torchvision_checkpoint_names_its_hash() -> None:
    """The hash check covers every torchvision file: each name carries a prefix of its SHA-256."""
    for name in TORCHVISION_REFERENCE_MODELS:
        for entry in torchvision.models.get_model_weights(get_spec(name).reference.name):
            assert len(expected_hash(entry) or "") >= 8, entry.url
    assert expected_hash(hub_weights(get_spec("se_resnet50"), "a1_in1k")) is None
