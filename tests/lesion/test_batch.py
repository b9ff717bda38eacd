"""Batches on Dask: every subject through an analysis, failures skipped, reruns resumed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from neuratlas import parallel
from neuratlas.lesion.analysis import RegionalDamage
from neuratlas.lesion.batch import run_record_path, run_subjects, subject_key
from neuratlas.lesion.bids import load_bids_dataset
from neuratlas.lesion.collect import collect_group_tables, write_group_tables
from neuratlas.lesion.entities import parse_entities
from tests.lesion.conftest import run_validator, validator_missing


@pytest.fixture(scope="module")
def client():
    c = parallel.connect(None)
    yield c
    c.close()


def test_batch_writes_what_single_runs_give(bids_copy, tmp_path, client):
    out = tmp_path / "derivatives"
    analysis = RegionalDamage(parcellation="aal3")
    seen = []
    report = run_subjects(
        analysis, bids_copy.root, out, client=client, subjects_per_task=2, progress=seen.append
    )
    assert [o.status for o in report.outcomes] == ["done"] * len(bids_copy.masks)
    assert sorted(o.key for o in seen) == sorted(o.key for o in report.outcomes)
    # every subject's table equals the analysis run on it alone
    tables = {
        (e["sub"], e.get("ses"), e["label"]): path
        for path in out.glob("sub-*/**/*_parcelstats.tsv")
        for e in [parse_entities(path)]
    }
    for subject in load_bids_dataset(bids_copy.root).values():
        expected = next(iter(analysis.run(subject).RegionalDamage.values()))
        ses = subject.metadata.get("session_id")
        key = (subject.subject_id[4:], ses[4:] if ses else None, subject.metadata["label"])
        written = pd.read_csv(tables[key], sep="\t", na_values="n/a", keep_default_na=False)
        np.testing.assert_allclose(written["value"], list(expected.data.values()), rtol=1e-12)


def test_failures_are_reported_and_others_go_on(bids_copy, tmp_path, client):
    broken = (
        bids_copy.root
        / "sub-04"
        / "anat"
        / "sub-04_space-MNI152NLin6Asym_label-acuteinfarct_mask.nii.gz"
    )
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\x1f\x8b\x08\x00truncated")
    report = run_subjects(
        RegionalDamage(parcellation="aal3"), bids_copy.root, tmp_path / "d", client=client
    )
    failed = report.of("failed")
    assert [f.key for f in failed] == [subject_key(broken)]
    assert "not a readable NIfTI" in failed[0].message
    assert len(report.of("done")) == len(bids_copy.masks)
    assert "1 failed" in report.summary()


def test_rerun_skips_finished_subjects_and_redoes_changed_ones(bids_copy, tmp_path, client):
    out = tmp_path / "d"
    analysis = RegionalDamage(parcellation="aal3")
    run_subjects(analysis, bids_copy.root, out, client=client)
    again = run_subjects(analysis, bids_copy.root, out, client=client)
    assert {o.status for o in again.outcomes} == {"skipped"}
    # another parameter is another run; a changed mask is done again
    other = run_subjects(
        RegionalDamage(parcellation=["aal3", "juelich"]), bids_copy.root, out, client=client
    )
    assert {o.status for o in other.outcomes} == {"done"}
    record = run_record_path(out, analysis, subject_key(bids_copy.masks[0].path))
    kept = json.loads(record.read_text())
    assert kept["parameters"]["parcellation"] == ["aal3", "juelich"]


def test_group_tables(bids_copy, tmp_path, client):
    out = tmp_path / "d"
    run_subjects(
        RegionalDamage(parcellation=["aal3", "juelich"]), bids_copy.root, out, client=client
    )
    tables = collect_group_tables(out)
    assert sorted(tables) == [
        "space-MNI152NLin6Asym_atlas-AAL3_desc-percent",
        "space-MNI152NLin6Asym_atlas-Juelich_desc-percent",
    ]
    aal = tables["space-MNI152NLin6Asym_atlas-AAL3_desc-percent"]
    assert aal.shape[0] == len(bids_copy.masks)
    assert "Precentral - left hemisphere" in aal.columns
    assert set(aal.index.get_level_values("participant_id")) == {"sub-01", "sub-02", "sub-03"}
    written = write_group_tables(out)
    assert all(p.parent.name == "group" for p in written)
    assert "group" in (out / ".bidsignore").read_text().splitlines()


@pytest.mark.skipif(validator_missing(), reason="bids-validator-deno is not installed")
def test_batch_output_is_valid_bids(bids_copy, tmp_path, client):
    out = tmp_path / "d"
    run_subjects(RegionalDamage(parcellation="aal3"), bids_copy.root, out, client=client)
    write_group_tables(out)
    report = run_validator(out)
    assert report.errors == [], report.errors


def test_collect_needs_results(tmp_path):
    from neuratlas.errors import BidsError, BidsPathNotFoundError

    with pytest.raises(BidsPathNotFoundError):
        collect_group_tables(tmp_path / "none")
    with pytest.raises(BidsError, match="no regional table"):
        collect_group_tables(tmp_path)
