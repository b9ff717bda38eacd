"""``neuratlas allen ...``: Allen Brain section datasets."""

import typer

app = typer.Typer(help="Allen Brain section datasets synced to the reference space.")
