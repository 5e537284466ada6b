"""Result files: written atomically, with the command, the time and the machine; ``atomic_open`` itself."""

from __future__ import annotations

import json

import pytest

from refimpl.tools.files import atomic_open
from refimpl.tools.results import read_result, write_result


def test_result_file_records_how_when_and_where(tmp_path) -> None:
    path = write_result(tmp_path / "sub" / "r.json", {"rows": [1, 2]})
    data = read_result(path)
    assert data["rows"] == [1, 2]
    assert data["machine"]["device"] == "cpu" and data["machine"]["torch"]
    assert data["measured_at"].endswith("+00:00") and data["command"]
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left behind


def test_a_failed_write_keeps_the_old_file(tmp_path) -> None:
    path = write_result(tmp_path / "r.json", {"rows": "old"})
    with pytest.raises(TypeError):
        write_result(path, {"rows": object()})  # not JSON-serialisable
    assert json.loads(path.read_text())["rows"] == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_atomic_open_replaces_the_file_only_when_the_block_succeeds(tmp_path) -> None:
    path = tmp_path / "new" / "data.bin"
    with atomic_open(path, "wb") as f:
        f.write(b"first")
    assert path.read_bytes() == b"first"
    with pytest.raises(KeyboardInterrupt), atomic_open(path, "wb") as f:
        f.write(b"half")
        raise KeyboardInterrupt  # an interruption, not only an error, keeps the old file
    assert path.read_bytes() == b"first"
    assert [p.name for p in path.parent.iterdir()] == ["data.bin"]  # no temporary file left behind


def test_a_result_is_strict_json_naming_its_non_finite_numbers(tmp_path) -> None:
    """Python writes NaN and Infinity, which JSON has not: a browser's JSON.parse and jq refuse the file."""
    path = write_result(tmp_path / "r.json", {"ms": float("nan"), "rows": [{"ratio": float("inf")}, {"ratio": 1.5}]})

    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["ms"] is None and data["rows"] == [{"ratio": None}, {"ratio": 1.5}]
    assert data["nonfinite"] == ["ms", "rows/0/ratio"]
