"""Progress reports of a fetch (:class:`FetchProgress`) and its outcome (:class:`FetchResult`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["FetchProgress", "FetchResult", "Phase", "ProgressCallback", "report"]

#: The phases of a fetch.
Phase = Literal["download", "processing", "registration"]


@dataclass(frozen=True)
class FetchProgress:
    """Progress information for fetch operations (seed 004)."""

    #: Current operation phase.
    phase: Phase
    #: Name of the file currently being processed.
    current_file: str
    #: Number of files completed.
    files_completed: int
    #: Total number of files to process.
    files_total: int
    #: Bytes transferred of the current download (including a resumed part).
    bytes_transferred: int = 0
    #: Total bytes of the current download (0 when unknown).
    bytes_total: int = 0
    #: Human-readable status message.
    message: str = ""

    @property
    def percent_complete(self) -> float:
        """Overall percentage of files completed (0 when the total is unknown)."""
        if self.files_total <= 0:
            return 0.0
        return 100.0 * self.files_completed / self.files_total

    @property
    def download_percent(self) -> float:
        """Percentage of the current file downloaded (0 when its size is unknown)."""
        if self.bytes_total <= 0:
            return 0.0
        return 100.0 * self.bytes_transferred / self.bytes_total

    def __str__(self) -> str:
        text = f"[{self.phase}] {self.files_completed}/{self.files_total}"
        if self.current_file:
            text += f" {self.current_file}"
        if self.bytes_total:
            text += f" {self.download_percent:.0f}%"
        return f"{text}: {self.message}" if self.message else text


#: A function called with each :class:`FetchProgress`.
ProgressCallback = Callable[[FetchProgress], None]


def report(callback: ProgressCallback | None, progress: FetchProgress) -> None:
    """Hand ``progress`` to ``callback``, if there is one."""
    if callback is not None:
        callback(progress)


@dataclass
class FetchResult:
    """Result of a connectome fetch operation (seed 004)."""

    #: Whether the operation completed successfully.
    success: bool
    #: Name of the fetched connectome (the source's, e.g. ``"gsp1000"``).
    connectome_name: str
    #: Directory containing the processed files.
    output_dir: Path
    #: Created (or reused) output files; the processed ones last.
    output_files: list[Path] = field(default_factory=list)
    #: Whether the connectome was registered.
    registered: bool = False
    #: Name used for registration, or None if not registered.
    register_name: str | None = None
    #: Total operation time in seconds.
    duration_seconds: float = 0.0
    #: Time spent downloading.
    download_time_seconds: float = 0.0
    #: Time spent processing.
    processing_time_seconds: float = 0.0
    #: Non-fatal warnings encountered.
    warnings: list[str] = field(default_factory=list)
    #: Error message if ``success`` is False.
    error: str | None = None

    def summary(self) -> str:
        """A human-readable summary of a few lines."""
        if not self.success:
            return f"failed to fetch {self.connectome_name}: {self.error}"
        lines = [
            f"fetched {self.connectome_name}",
            f"  output: {self.output_dir}",
            f"  files: {len(self.output_files)}",
            f"  registered as: {self.register_name or 'not registered'}",
            f"  time: {self.download_time_seconds:.1f} s download, "
            f"{self.processing_time_seconds:.1f} s processing, "
            f"{self.duration_seconds:.1f} s in all",
        ]
        lines.extend(f"  warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
