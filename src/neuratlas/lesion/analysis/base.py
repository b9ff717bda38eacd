"""What every lesion analysis does around its computation: results, provenance, batches.

An analysis is configured once (its parameters), then run on subjects:
:meth:`Analysis.run` computes the results of one subject and returns a new
:class:`~neuratlas.lesion.subject.SubjectData` with them under the analysis's
name and a provenance record of the run. :meth:`Analysis.run_batch` does the same
for many subjects; analyses that can share work between subjects (one pass over
a connectome or a tractogram for all of them) override :meth:`compute_batch`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from neuratlas.lesion.provenance import provenance_record
from neuratlas.lesion.results import Result
from neuratlas.lesion.subject import SubjectData

__all__ = ["Analysis"]


class Analysis(ABC):
    """Base class of the lesion analyses.

    Subclasses implement :meth:`compute` (one subject's results, keyed by result
    key) and :meth:`parameters` (what the provenance records), and may override
    :meth:`compute_batch` to share work between subjects.
    """

    #: Where the results go in ``subject.results``; the class name unless set.
    namespace: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("namespace"):
            cls.namespace = cls.__name__

    @abstractmethod
    def compute(self, subject: SubjectData) -> dict[str, Result]:
        """The results of one subject, result key -> container."""

    @abstractmethod
    def parameters(self) -> dict[str, Any]:
        """The analysis's parameters, JSON-ready, as the provenance records them."""

    def compute_batch(self, subjects: Sequence[SubjectData]) -> list[dict[str, Result]]:
        """The results of many subjects; by default one :meth:`compute` each."""
        return [self.compute(s) for s in subjects]

    def _attach(self, subject: SubjectData, results: Mapping[str, Result]) -> SubjectData:
        record = provenance_record(
            f"neuratlas.lesion.analysis.{type(self).__name__}",
            self.parameters(),
            {"mask": subject.digest()},
        )
        return subject.add_result(self.namespace, results).add_provenance(record)

    def run(self, subject: SubjectData) -> SubjectData:
        """``subject`` with this analysis's results and a provenance record added.

        Parameters
        ----------
        subject : SubjectData
            The lesion; it is not changed.

        Returns
        -------
        SubjectData
            A new object; ``result.<namespace>`` holds the results.
        """
        return self._attach(subject, self.compute(subject))

    def run_batch(self, subjects: Sequence[SubjectData]) -> list[SubjectData]:
        """:meth:`run` for many subjects, sharing work where the analysis can.

        The results are those :meth:`run` gives each subject alone.
        """
        subjects = list(subjects)
        batch = self.compute_batch(subjects)
        return [self._attach(s, r) for s, r in zip(subjects, batch, strict=True)]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({params})"
