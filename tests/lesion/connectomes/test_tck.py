"""Writing .tck files in batches: what nibabel (and MRtrix) read back."""

from __future__ import annotations

import shutil
import subprocess

import nibabel as nib
import numpy as np
import pytest
from nibabel.streamlines import ArraySequence

from neuratlas.lesion.connectomes.tck import TckWriter, _header
from tests.lesion.connectomes.synthetic import streamlines


def test_the_header_names_its_own_length_and_a_fixed_width_count():
    for count in (0, 7, 12_345_678):
        head = _header(count)
        assert head.startswith(b"mrtrix tracks\n") and head.endswith(b"\nEND\n")
        assert f"count: {count:010d}".encode() in head
        assert f"file: . {len(head)}".encode() in head
        assert len(head) == len(_header(0))


def test_batches_of_lists_and_array_sequences_read_back_in_order(tmp_path):
    lines = streamlines(60, seed=2)
    lines[10] = np.zeros((0, 3), np.float32)  # empty streamlines are skipped
    with TckWriter(tmp_path / "t.tck") as writer:
        assert writer.write(lines[:25]) == 24
        assert writer.write(ArraySequence(lines[25:])) == 35
        assert writer.write([]) == 0
    loaded = nib.streamlines.load(str(tmp_path / "t.tck"))
    kept = [s for s in lines if len(s)]
    assert loaded.header["count"] == "0000000059" and len(loaded.streamlines) == 59
    for got, want in zip(loaded.streamlines, kept, strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_sliced_array_sequence_writes_only_its_slice(tmp_path):
    lines = streamlines(10, seed=3)
    with TckWriter(tmp_path / "t.tck") as writer:
        writer.write(ArraySequence(lines)[3:6])
    loaded = nib.streamlines.load(str(tmp_path / "t.tck")).streamlines
    for got, want in zip(loaded, lines[3:6], strict=True):
        np.testing.assert_array_equal(got, want)


def test_an_empty_tractogram_is_a_valid_file(tmp_path):
    TckWriter(tmp_path / "e.tck").close()
    assert len(nib.streamlines.load(str(tmp_path / "e.tck")).streamlines) == 0


def test_an_error_while_writing_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError, match="boom"), TckWriter(tmp_path / "t.tck") as writer:
        writer.write(streamlines(3))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_mrtrix_reads_what_is_written(tmp_path):
    if shutil.which("tckinfo") is None:
        pytest.skip("MRtrix3's tckinfo is not installed")
    with TckWriter(tmp_path / "t.tck") as writer:
        writer.write(streamlines(12))
    out = subprocess.run(
        ["tckinfo", "-count", str(tmp_path / "t.tck")], capture_output=True, text=True, check=True
    ).stdout
    assert "actual count in file: 12" in out
