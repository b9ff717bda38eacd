"""Many subjects through one analysis on Dask, each written out as BIDS derivatives.

Subjects are sent to the workers in small groups, so that an analysis that
shares work between subjects (:meth:`Analysis.compute_batch`: one sparse product
for a group's regional damage, one pass over a connectome) shares it, while the
progress still moves subject by subject. The analysis is sent to every worker
once (``scatter``): what it caches (parcellations on a grid, a tractogram's
incidence matrix) is built once per worker, not once per group.

A subject that fails (a broken file, a mask in another space) is reported and
skipped; the others go on. A subject already done (same mask file, same analysis
and parameters) is skipped, so that a rerun after a crash only does what is left.
That is known from a small record written, last and atomically, for each subject:
``<output_dir>/.neuratlas/runs/<analysis>/<subject>.json`` (a dot folder, which
BIDS tools ignore).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from neuratlas import parallel
from neuratlas.__about__ import __version__
from neuratlas.errors import Error
from neuratlas.lesion.analysis.base import Analysis
from neuratlas.lesion.bids import find_masks, load_mask
from neuratlas.lesion.entities import split_suffix
from neuratlas.lesion.export import export_bids_derivatives
from neuratlas.lesion.provenance import file_digest
from neuratlas.lesion.subject import SubjectData
from neuratlas.retrieval.cache import atomic_write, synced_together

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["BatchReport", "SubjectOutcome", "run_record_path", "run_subjects", "subject_key"]

#: Subjects per Dask task: large enough to share work, small enough for a smooth progress bar.
SUBJECTS_PER_TASK = 8
Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class SubjectOutcome:
    """What became of one subject: ``done``, ``skipped`` (done before) or ``failed``."""

    key: str
    status: Status
    message: str = ""
    seconds: float = 0.0


@dataclass
class BatchReport:
    """The outcome of every subject of a batch, in the order they were given."""

    analysis: str
    output_dir: Path
    outcomes: list[SubjectOutcome] = field(default_factory=list)

    def of(self, status: Status) -> list[SubjectOutcome]:
        """The outcomes with that status."""
        return [o for o in self.outcomes if o.status == status]

    def summary(self) -> str:
        """One line: how many done, skipped, failed."""
        counts = {s: len(self.of(s)) for s in ("done", "skipped", "failed")}
        return (
            f"{self.analysis}: {counts['done']} done, {counts['skipped']} already done, "
            f"{counts['failed']} failed -> {self.output_dir}"
        )


def subject_key(path: str | os.PathLike[str]) -> str:
    """A mask file's name without its suffix and extension (``sub-01_ses-2_label-x``)."""
    stem, _, _ = split_suffix(Path(path).name)
    return stem


def run_record_path(output_dir: Path, analysis: Analysis, key: str) -> Path:
    """Where the record of a finished subject is kept."""
    return output_dir / ".neuratlas" / "runs" / analysis.namespace / f"{key}.json"


def _record(analysis: Analysis, source: Path) -> dict[str, Any]:
    return {
        "analysis": analysis.namespace,
        "parameters": analysis.parameters(),
        "source": str(source),
        "source_sha256": file_digest(source),
    }


def _is_done(output_dir: Path, analysis: Analysis, source: Path, wanted: dict[str, Any]) -> bool:
    path = run_record_path(output_dir, analysis, subject_key(source))
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return all(kept.get(k) == v for k, v in wanted.items())


def _mark_done(output_dir: Path, analysis: Analysis, source: Path, wanted: dict[str, Any]) -> None:
    path = run_record_path(output_dir, analysis, subject_key(source))
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**wanted, "version": __version__, "finished": time.time()}
    with atomic_write(path, "w") as fh:
        json.dump(record, fh, indent=1)


def _failure(key: str, exc: BaseException, started: float) -> SubjectOutcome:
    text = exc.message if isinstance(exc, Error) else f"{type(exc).__name__}: {exc}"
    return SubjectOutcome(key, "failed", text, time.perf_counter() - started)


def _export(
    subject: SubjectData, source: Path, output_dir: Path, started: float
) -> SubjectOutcome:
    key = subject_key(source)
    try:
        export_bids_derivatives(subject, output_dir, overwrite=True)
    except (Error, OSError, ValueError) as exc:
        return _failure(key, exc, started)
    return SubjectOutcome(key, "done", seconds=time.perf_counter() - started)


def run_group(
    analysis: Analysis,
    sources: Sequence[Path],
    root: Path,
    output_dir: Path,
    space: str | None = None,
    resolution: float | None = None,
) -> list[SubjectOutcome]:
    """Run ``analysis`` on a group of mask files of the dataset at ``root`` and export each.

    One Dask task.
    Subjects done before are skipped; one that fails to load or to run is reported
    and the others go on. Returns one outcome per source, in order.
    """
    started = time.perf_counter()
    outcomes: dict[Path, SubjectOutcome] = {}
    loaded: list[tuple[Path, SubjectData]] = []
    # the record of each source (its digest read once): what a finished run must match,
    # and what this run writes when done; taken before the mask is read
    records: dict[Path, dict[str, Any]] = {}
    for source in sources:
        try:
            records[source] = _record(analysis, source)
        except OSError as exc:
            outcomes[source] = _failure(subject_key(source), exc, started)
            continue
        if _is_done(output_dir, analysis, source, records[source]):
            outcomes[source] = SubjectOutcome(subject_key(source), "skipped")
            continue
        try:
            loaded.append((source, load_mask(source, root, space, resolution)))
        except (Error, OSError) as exc:
            outcomes[source] = _failure(subject_key(source), exc, started)
    try:
        ran = analysis.run_batch([s for _, s in loaded])
    except Error:
        # one bad subject must not sink the group: find it by running them one by one
        ran = []
        for source, subject in loaded:
            try:
                ran.append(analysis.run(subject))
            except Error as exc:
                outcomes[source] = _failure(subject_key(source), exc, started)
                ran.append(None)
    # the group's files are made durable together (one sync, not one per file: with
    # several workers writing, per-file syncs wait on one another); a subject counts
    # as done once its record is written, after its files are durable
    exported: list[Path] = []
    with synced_together():
        for (source, _), subject in zip(loaded, ran, strict=True):
            if subject is not None:
                outcomes[source] = _export(subject, source, output_dir, started)
                if outcomes[source].status == "done":
                    exported.append(source)
    with synced_together():
        for source in exported:
            try:
                _mark_done(output_dir, analysis, source, records[source])
            except (Error, OSError) as exc:
                outcomes[source] = _failure(subject_key(source), exc, started)
    return [outcomes[s] for s in sources]


def _groups(items: Sequence[Path], size: int) -> Iterable[list[Path]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def run_subjects(
    analysis: Analysis,
    bids_root: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    pattern: str = "*",
    suffix: str = "_mask.nii.gz",
    subjects: Sequence[str] | None = None,
    client: Client | None = None,
    space: str | None = None,
    resolution: float | None = None,
    subjects_per_task: int = SUBJECTS_PER_TASK,
    progress: Callable[[SubjectOutcome], None] | None = None,
) -> BatchReport:
    """Run ``analysis`` on every mask file, on Dask, writing BIDS derivatives.

    Parameters
    ----------
    analysis : Analysis
        A configured analysis (``RegionalDamage(parcellation=...)``...).
    bids_root : path
        The dataset (or any folder of masks): BIDS names, sidecars and folders give
        subject, session, space and resolution.
    output_dir : path
        The derivatives folder; one ``sub-*`` folder per subject is written there.
    pattern, suffix, subjects
        Which masks, as :func:`~neuratlas.lesion.bids.load_bids_dataset` takes them.
    client : distributed.Client, optional
        Where to run; the shared client of :mod:`neuratlas.parallel` by default.
    space, resolution : optional
        For masks whose file names do not say.
    subjects_per_task : int
        Subjects per Dask task.
    progress : callable, optional
        Called with each subject's outcome as it arrives.

    Returns
    -------
    BatchReport
        One outcome per source, in order.
    """
    # heavy: Dask is imported only when a batch runs
    from distributed import as_completed

    client = client or parallel.get_client()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(bids_root).expanduser()
    paths = find_masks(root, pattern, suffix, subjects=subjects)
    # hash=False: a key of its own for each batch, or a second batch of an equal
    # analysis would share the first one's data while the scheduler deletes it
    shared = client.scatter(analysis, broadcast=True, hash=False)
    futures = {
        client.submit(run_group, shared, group, root, out, space, resolution, pure=False): group
        for group in _groups(paths, max(1, subjects_per_task))
    }
    by_source: dict[Path, SubjectOutcome] = {}
    for future in as_completed(futures, loop=client.loop):
        group = futures[future]
        try:
            outcomes = future.result()
        except Exception as exc:  # a worker died or the task could not run: the group failed
            message, _hint = parallel.describe_failure(exc)
            outcomes = [SubjectOutcome(subject_key(s), "failed", message) for s in group]
        for source, outcome in zip(group, outcomes, strict=True):
            by_source[source] = outcome
            if progress is not None:
                progress(outcome)
    return BatchReport(analysis.namespace, out, [by_source[p] for p in paths])
