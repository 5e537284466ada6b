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
# # The model zoo
#
# Every registered model's torchinfo summary (click a name to unfold it), then
# a smoke run of the training command on the offline `digits` data set, on the
# build machine's CPU. The table of the models with their checkpoints and
# published accuracy, what `python -m refimpl list` prints, is on the
# [home page](../../#the-model-zoo). The models are built on PyTorch's `meta`
# device: shapes, parameters and multiply-accumulates without any arithmetic,
# so all of them take a few seconds.

# %%
import contextlib
import html
import io
import json
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from _common import plot_style, seed_everything
from IPython.display import HTML, Markdown, display

from refimpl import get_spec, list_models
from refimpl.tools.inspection import count_parameters, summary
from refimpl.tools.train import METRICS, TrainConfig, train

plot_style()

# %% tags=["remove_input"]
rows = []
for name in list_models():
    spec = get_spec(name)
    size = spec.input_size
    with torch.device("meta"):
        model = spec.builder()
    stats = summary(model, (1, 3, size, size), depth=2, device="meta")
    params, gmacs = count_parameters(model), stats.total_mult_adds / 1e9
    rows.append(
        f"<details><summary><code>{name}</code>: {spec.label}, {params:,} parameters, "
        f"{gmacs:.2f} G mult-adds (torchinfo) at {size}x{size}</summary>"
        f"<pre>{html.escape(str(stats))}</pre></details>"
    )
display(HTML("\n".join(rows)))
print(f"{len(rows)} models")

# %% [markdown]
# torchinfo's mult-adds include one per batch-normalisation parameter, which
# the site's GMAC tables (counted with PyTorch's `FlopCounterMode`, convolutions
# and matrix products only) leave out, so its totals are slightly higher.
#
# ## A smoke run on digits
#
# `refimpl.tools.train.train` with the recipe of `python -m refimpl train`:
# ResNet-20, 3 epochs of at most 15 batches of 32 images, on the CPU, into a
# temporary folder; the curves are read back from its `metrics.jsonl`. What
# the command prints follows, less the line that names the folder.

# %%
seed_everything(0)
with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()) as log:
    config = TrainConfig(
        model="resnet20", dataset="digits", epochs=3, batch_size=32, max_steps=15, device="cpu", out=out
    )
    train(config)
    metrics = [json.loads(line) for line in (Path(out) / METRICS).read_text().splitlines()]
print("\n".join(line for line in log.getvalue().splitlines() if out not in line).strip())

epochs = [m["epoch"] for m in metrics]
fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(6, 5.6), sharex=True)
ax_loss.plot(epochs, [m["train_loss"] for m in metrics], "o-", label="training (with label smoothing 0.1)")
ax_loss.plot(epochs, [m["test_loss"] for m in metrics], "s--", label="test")
ax_loss.set_ylabel("cross-entropy (nats)")
ax_acc.plot(epochs, [100 * m["train_acc"] for m in metrics], "o-", label="training")
ax_acc.plot(epochs, [100 * m["test_acc"] for m in metrics], "s--", label="test")
ax_acc.set_ylabel("accuracy (%)")
ax_acc.set_xlabel("epoch")
ax_acc.set_xticks(epochs)
ax_acc.set_ylim(0, 100)
ax_loss.legend(loc="upper right")
ax_acc.legend(loc="lower right")
fig.suptitle(f"ResNet-20 smoke run on digits, device: {metrics[-1]['device']}")
fig.tight_layout()
plt.show()

# %% tags=["remove_input"]
last = metrics[-1]
Markdown(
    f"This smoke run ended at {last['test_acc']:.1%} test accuracy after {len(metrics)} short epochs of "
    f"{config.max_steps} batches ({last['images_per_s']:.0f} images/s on the build machine's `{last['device']}`). "
    "It checks that the command runs, not how well ResNet-20 learns: the [skip connections page](../skip_connections/) "
    "trains it properly. Measured times and memory, each with its machine, are on the [Results](../../results/) page."
)
