"""Progress reports and fetch results."""

from __future__ import annotations

from pathlib import Path

from neuratlas.lesion.connectomes import FetchProgress, FetchResult
from neuratlas.lesion.connectomes.progress import report


def test_percentages_and_their_zero_totals():
    progress = FetchProgress("download", "a.tar", 1, 4, 250, 1000, "downloading a.tar")
    assert progress.percent_complete == 25.0 and progress.download_percent == 25.0
    assert str(progress) == "[download] 1/4 a.tar 25%: downloading a.tar"
    empty = FetchProgress("processing", "", 0, 0)
    assert empty.percent_complete == 0.0 and empty.download_percent == 0.0
    assert str(empty) == "[processing] 0/0"


def test_report_calls_the_callback_if_there_is_one():
    seen = []
    report(seen.append, FetchProgress("registration", "", 0, 1))
    report(None, FetchProgress("registration", "", 0, 1))
    assert len(seen) == 1


def test_a_result_summarises_itself():
    ok = FetchResult(
        True,
        "gsp1000",
        Path("/out"),
        [Path("/out/a.h5")],
        True,
        "GSP1000",
        12.0,
        10.0,
        2.0,
        ["reused the download"],
    )
    text = ok.summary()
    assert text.splitlines()[0] == "fetched gsp1000"
    assert "registered as: GSP1000" in text and "10.0 s download, 2.0 s processing" in text
    assert "warning: reused the download" in text and str(ok) == text
    failed = FetchResult(False, "dtor985", Path("/out"), error="no token")
    assert failed.summary() == "failed to fetch dtor985: no token"
    assert failed.output_files == [] and failed.warnings == []
