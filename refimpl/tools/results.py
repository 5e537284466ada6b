"""Measured results: the machine they were measured on, written atomically.

Every number the site shows is either computed while the site is built or read
from a JSON file under ``docs/results/`` written by this module. Each file says
how (the command), when (UTC time) and on what machine it was measured.

What this file holds:

- ``machine``: the CPU, GPU, operating system and library versions;
- ``write_result`` and ``read_result``: a result file with the command, the
  UTC time and the machine, written atomically (``refimpl.tools.files.atomic_open``).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import torch
import torchvision

from refimpl.tools.files import atomic_open

__all__ = ["machine", "read_result", "write_result"]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device | str = "cpu") -> dict[str, Any]:
    """A description of this machine and of ``device``, for a result file."""
    device = torch.device(device)
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": _cpu_name(),
        "cpu_threads": torch.get_num_threads(),
        "logical_cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def write_result(path: str | os.PathLike[str], data: dict[str, Any], device: torch.device | str = "cpu") -> Path:
    """Write ``data`` with the command, the UTC time and the machine, atomically.

    The file is written to a temporary name in the same folder and then renamed,
    so a reader never sees half a file. It is strict JSON: a NaN or an infinity
    is written ``null`` and its place listed in ``"nonfinite"``.
    """
    path = Path(path)
    record = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "measured_at": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "machine": machine(device),
        **data,
    }
    nonfinite: list[str] = []
    record = _strict(record, "", nonfinite)
    if nonfinite:
        record["nonfinite"] = nonfinite
    with atomic_open(path) as f:
        json.dump(record, f, indent=2, allow_nan=False)
        f.write("\n")
    return path


def _strict(value: Any, where: str, nonfinite: list[str]) -> Any:
    """``value`` with every NaN and infinity as ``None``, their places (``a/b/0``) added to ``nonfinite``.

    JSON has no NaN: Python would write ``NaN``, which strict parsers (a browser's
    ``JSON.parse``, ``jq``) refuse. A measurement that failed is ``null`` and named.
    """
    if isinstance(value, float) and not math.isfinite(value):
        nonfinite.append(where or "/")
        return None
    if isinstance(value, dict):
        return {k: _strict(v, f"{where}/{k}".lstrip("/"), nonfinite) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v, f"{where}/{i}".lstrip("/"), nonfinite) for i, v in enumerate(value)]
    return value


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result file written by ``write_result``."""
    return json.loads(Path(path).read_text())
