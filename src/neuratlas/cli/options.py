"""Options that several commands share, defined once so that they read alike."""

from __future__ import annotations

from typing import Annotated

import typer

MapTypeOption = Annotated[str, typer.Option("--type", "-t", help="labelled or statistical.")]
MaxprobThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--maxprob-threshold",
        help="Use the maximum-probability map thresholded at this probability "
        "(0.25 or 0.5 for Juelich and Harvard-Oxford).",
    ),
]
