"""The `rowrelay` command line."""

from __future__ import annotations

import typer

from tasks.emulator.cli import emulator

app = typer.Typer(
    name="rowrelay",
    help="Run long background LLM requests over every row of a dataset.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("emulator")(emulator)


@app.callback()
def main() -> None:
    """rowrelay: background LLM requests over every row of a dataset, checkpointed and resumable."""
