"""Provenance records: fields, JSON-ready parameters, digests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from neuratlas import __version__
from neuratlas.errors import ArgumentError
from neuratlas.lesion.provenance import array_digest, check_record, file_digest, provenance_record


def test_record_fields_and_json():
    record = provenance_record(
        "neuratlas.lesion.analysis.RegionalDamage",
        {"path": Path("/a/b"), "n": np.int64(3), "x": np.float32(0.5), "tags": ("a", "b")},
        {"mask": "ab" * 32},
    )
    assert record["version"] == __version__
    assert record["parameters"] == {"path": "/a/b", "n": 3, "x": 0.5, "tags": ["a", "b"]}
    assert datetime.fromisoformat(record["timestamp"]).utcoffset().total_seconds() == 0
    json.dumps(record)
    check_record(record)


def test_check_record_names_missing_fields():
    with pytest.raises(ArgumentError, match="parameters, timestamp, version"):
        check_record({"function": "f"})


def test_digests(tmp_path):
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert array_digest(data) == array_digest(data.copy())
    assert array_digest(data) != array_digest(data.astype(np.int16))
    assert array_digest(data, np.eye(4)) != array_digest(data, np.eye(4) * 2)
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    assert file_digest(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
