"""The `rowrelay` command line: run (and resume) a batch, inspect, cancel, retry, export, repair, serve.

Exit codes: 0 every row completed; 1 some rows did not (failed, incomplete, cancelled, expired, held
orphans); 2 a usage, input or state error (nothing was sent), said in one line (`cli_errors.fail`).

Building this app imports typer, rich and small modules of ours only: each command imports its work when
it runs (Prefect, the SDK and pandas for `run`), and `run` and `deploy` are built only when asked for
(`_DeferredGroup`), so `rowrelay --help`, `status` and `export` start in under a second.
tests/flows/test_cli_imports.py pins what each command imports.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from rowrelay.flows import cli_errors, export_command, repair_command, state_commands
from rowrelay.tasks.console_filter import CONSOLE_LEVEL
from rowrelay.tasks.emulator.cli import emulator

_DEFERRED: dict[str, Callable[[], typer.Typer]] = {}
"""Commands built (and their modules imported) only when asked for, each from its own app."""


class _DeferredGroup(TyperGroup):
    """The `rowrelay` group, listing the deferred commands after the others and building one only when
    it is run or help is shown: `run`'s and `deploy`'s options take their help from the settings' model
    (`cli_options.about`), whose import and build (pydantic-settings) cost 0.1-0.2 s that `status` and
    `export` need not pay."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *_DEFERRED]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        deferred = _DEFERRED.get(cmd_name)
        command = (
            super().get_command(ctx, cmd_name) if deferred is None else typer.main.get_command(deferred())
        )
        if command is not None:
            _take_verbose_after(command)
        return command


def _run() -> typer.Typer:
    from rowrelay.flows import run_command

    return run_command.app


def _deploy() -> typer.Typer:
    from rowrelay.flows import deploy_command

    return deploy_command.app


def _services() -> typer.Typer:
    # Process records and the local Prefect server's settings: nothing status and export need.
    from rowrelay.flows import services

    return services.app


_DEFERRED["run"], _DEFERRED["deploy"], _DEFERRED["services"] = _run, _deploy, _services


app = typer.Typer(
    cls=_DeferredGroup,
    name="rowrelay",
    help="Run long background LLM requests over every row of a dataset: checkpointed and resumable.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("emulator")(emulator)
app.command("status")(state_commands.status)
app.command("cancel")(state_commands.cancel)
app.command("retry")(state_commands.retry)
app.command("export")(export_command.export)
app.command("repair")(repair_command.repair)
Opt = typer.Option


_VERBOSE_HELP = "Show Prefect's and rowrelay's info logs."


@app.callback()
def main(
    context: typer.Context, verbose: Annotated[bool, Opt("--verbose", "-v", help=_VERBOSE_HELP)] = False
) -> None:
    """rowrelay: background LLM requests over every row of a dataset, checkpointed and resumable."""
    _log_to_console(verbose)
    context.call_on_close(cli_errors.running(context.invoked_subcommand))  # its errors in its words


def _log_to_console(verbose: bool) -> None:
    """The console's logging: WARNING, or INFO with -v. Run again with True when -v follows the command
    (`_take_verbose_after`), after the group's callback set it up quiet."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    # The root's level set each time: basicConfig sets it on its first call only, so -v after the command
    # (the second call) left every logger without its own level (rowrelay's among them) at WARNING.
    logging.getLogger().setLevel(level)
    os.environ[CONSOLE_LEVEL] = logging.getLevelName(level)  # for the Dask workers it starts (steps.py)
    # The console filters by its handler's level, not the loggers': Prefect's and rowrelay's INFO records
    # must still be made, for the flow run's logs on the Prefect server (flows/run_logs.py).
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)
        for quiet in (_not_the_runs_story, _not_an_exit_drain_notice):
            # the run's story (narration.RUN_LOG_ONLY) is the progress bar's and summary's job
            handler.removeFilter(quiet) if verbose else handler.addFilter(quiet)
        handler.addFilter(_not_an_http_request)


def _not_an_http_request(record: logging.LogRecord) -> bool:
    """False for httpx's INFO line per request (`HTTP Request: POST .../csrf-token "422 Unprocessable
    Entity"`, Prefect's client asking whether the server wants a token): 21 of a -v run's 41 lines, one
    reading as an error, none of them rowrelay's story. Its warnings and errors still show."""
    return not (record.name.startswith("httpx") and record.levelno < logging.WARNING)


def _not_the_runs_story(record: logging.LogRecord) -> bool:
    return not getattr(record, "rowrelay_run_log_only", False)


def _not_an_exit_drain_notice(record: logging.LogRecord) -> bool:
    """False for Prefect's "Still processing items: N items remaining..." (a WARNING its event and log
    workers give while they send what is left at exit): it came after the command's own last line, the
    verdict a script reads (`error: ...` or the summary), on a loaded machine. The items still reach the
    Prefect server; the notice only says the exit is waiting for them."""
    return not (
        record.levelno == logging.WARNING
        and record.module == "services"  # prefect/_internal/concurrency/services.py
        and record.getMessage().startswith("Still processing items")
    )


def _verbose_given(verbose: bool) -> None:
    if verbose:
        _log_to_console(verbose=True)


def _verbose_flag(
    verbose: Annotated[
        bool, Opt("--verbose", "-v", help=_VERBOSE_HELP, callback=_verbose_given, expose_value=False)
    ] = False,
) -> None:
    """Never run: declares, for Typer to build, the -v each command takes after its name."""


@functools.cache
def _verbose_after() -> Any:
    """`-v/--verbose` as each command's own option: users put it last (`rowrelay run x.csv -v`), which the
    group's option alone refused ("No such option: -v"). Given either place, it means the same."""
    declared = typer.Typer(add_completion=False)
    declared.command()(_verbose_flag)
    return typer.main.get_command(declared).params[0]


def _take_verbose_after(command: Any) -> None:
    """Give `command` (and, for a group such as `services`, each of its commands) the -v option, once."""
    if all(param.name != "verbose" for param in command.params):
        command.params.append(_verbose_after())
    for subcommand in getattr(command, "commands", {}).values():
        _take_verbose_after(subcommand)


if __name__ == "__main__":
    # `python -m rowrelay.flows.cli` (README's other way in) refuses a usage error in the installed
    # command's one `error:` line, not Typer's box: the same wrapper, only the interpreter's usual exit.
    import sys

    from rowrelay.flows.entry import run_command

    sys.exit(run_command())
