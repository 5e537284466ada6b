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
# the training command of the [code practice](../../practice/#7-a-measured-run)
# on the offline `digits` data set, on the CPU. The table of the models with their checkpoints and
# published accuracy, what `python -m refimpl list` prints, is on the
# [home page](../../#the-model-zoo). The models are built on PyTorch's `meta`
# device: shapes, parameters and multiply-accumulates without any arithmetic,
# so all of them take a few seconds.

# %% tags=["parameters"]
SCALE = "full"  # "smoke": one epoch of two batches: how the test suite checks that the page runs

# %%
import contextlib
import html
import io
import json
import shlex
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from _common import plot_style, say, say_html, seed_everything, show
from IPython.display import display

from refimpl import get_spec, list_models
from refimpl.tools.cli import main
from refimpl.tools.inspection import count_parameters, summary
from refimpl.tools.train import METRICS

plot_style()

# %% tags=["remove_input"]
rows, rows_ko = [], []  # the same summaries, in English and in Korean
for name in list_models() if SCALE == "full" else list_models()[:3]:  # the smoke run: three of them
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
    rows_ko.append(
        f"<details><summary><code>{name}</code>: {spec.label}, 매개변수 {params:,}개, "
        f"{size}x{size} 입력에서 곱셈-누산 {gmacs:.2f} G회(torchinfo)</summary>"
        f"<pre>{html.escape(str(stats))}</pre></details>"
    )
display(say_html("\n".join(rows), "\n".join(rows_ko)))
print(f"{len(rows)} models")

# %% [markdown]
# torchinfo's mult-adds include one per batch-normalisation parameter, which
# the site's GMAC tables (counted with PyTorch's `FlopCounterMode`, convolutions
# and matrix products only) leave out, so its totals are slightly higher.
#
# ## A run on digits
#
# The command of the [code practice](../../practice/#7-a-measured-run), run as
# it is (through `refimpl.tools.cli.main`, what `python -m refimpl` calls),
# except that `--out` is a temporary folder; the curves are read back from its
# `metrics.jsonl`. What the command prints follows, less the lines that name
# the folder.

# %%
COMMAND = "python -m refimpl train --model resnet20 --dataset digits --epochs 8 --device cpu --out runs/digits"
argv = shlex.split(COMMAND)[3:]  # what follows "python -m refimpl"
if SCALE == "smoke":
    argv += ["--epochs", "1", "--max-steps", "2"]
seed_everything(0)
with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()) as log:
    out = str(Path(tmp) / "digits")
    status = main([*argv, "--out", out])
    metrics = [json.loads(line) for line in (Path(out) / METRICS).read_text().splitlines()]
assert status == 0, f"the command exited with {status}"
print("$ " + COMMAND)
print("\n".join(line for line in log.getvalue().splitlines() if tmp not in line).strip())

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
fig.suptitle(f"ResNet-20 on digits, device: {metrics[-1]['device']}")
fig.tight_layout()
last = metrics[-1]
show(
    fig,
    f"Two line plots over {len(metrics)} epochs of ResNet-20 on digits: training and test loss above, training "
    f"and test accuracy below, ending at {last['test_acc']:.1%} test accuracy.",
    f"ResNet-20을 digits로 {len(metrics)} 에포크(epoch) 동안 훈련한 꺾은선 그래프 두 개입니다. "
    "가로축은 에포크입니다. 위 그래프는 훈련 손실(training: 파란 동그라미와 실선, 레이블 스무딩 0.1)과 "
    "시험 손실(test: 주황 네모와 점선)을 교차 엔트로피(nats)로, 아래 그래프는 훈련 정확도와 "
    f"시험 정확도를 퍼센트로 보여 줍니다. 시험 정확도는 {last['test_acc']:.1%}로 끝납니다.",
)

# %% tags=["remove_input"]
say(
    f"The run ended at {last['test_acc']:.1%} test accuracy after {len(metrics)} epochs "
    f"({last['images_per_s']:.0f} images/s on `{last['device']}`, the machine named at the top of this page). "
    "Measured times and memory, each with its machine, are on the [Results](../../results/) page.",
    f"훈련은 {len(metrics)} 에포크(epoch) 뒤 시험 정확도 {last['test_acc']:.1%}로 끝났습니다"
    f"(`{last['device']}`에서 초당 이미지 {last['images_per_s']:.0f}장, 이 페이지 맨 위에 적힌 기계입니다). "
    "측정한 시간과 메모리는 각각 측정한 기계와 함께 [결과](../../results/) 페이지에 있습니다.",
)
