"""`rowrelay status | cancel | retry STATE`: work on a batch's state table without running it (`export`,
which also reads the input, is flows/export_command.py).

Each refuses a table with a damaged file (exit 2, naming it and `rowrelay repair`), as `run` does: a
status or an export of the rows that happen to be readable would look whole and not be.

Each command imports what it works with when it runs, not when the CLI is built: `rowrelay --help` and
`status` then pay for neither pandas (an export reads the input) nor the SDK (a cancel reaches the
server); tests/flows/test_cli_imports.py pins what each command imports.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from rowrelay.flows.cli_errors import fail, state_problem
from rowrelay.flows.default_batch import the_batch
from rowrelay.tasks.errors import LeaseHeldError, MissingExtraError, StateError, UsageError
from rowrelay.tasks.plot_files import plot_formats_said
from rowrelay.tasks.records import (
    NOT_COMPLETED,
    RETRY_BY_DEFAULT,
    rows,
    usd,
)
from rowrelay.tasks.shell_words import shell_arg

if TYPE_CHECKING:
    from rowrelay.tasks.state import StateTable

# Plain text (a batch named `data[v2]` holds no style), each message on one line however narrow the
# terminal or pipe: scripts match on them, and a line cut at 80 columns reads as two.
out = Console(soft_wrap=True, markup=False)
StateArg = Annotated[
    Path | None,
    typer.Argument(
        help="The batch's state directory; left out, the batch run last under ROWRELAY_STATE_DIR "
        "(data/state) here (for cancel, retry and repair: the only one there).",
        show_default=False,
    ),
]
_RETRY_DEFAULT = ",".join(RETRY_BY_DEFAULT)


def existing(state: Path, *, or_its_table: bool = False) -> Path:
    """`state`, if it holds a batch (`or_its_table`: or a table whose batch.json was lost, which a repair
    writes again); else exit 2 saying it does not, and how to get a lost batch.json back."""
    from rowrelay.tasks.state.batch import holds_table, is_state_directory, no_batch_problem

    if not is_state_directory(state) and not (or_its_table and state.is_dir() and holds_table(state)):
        fail(no_batch_problem(state))
    return state


def status(
    state: StateArg = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            help="Also draw latency, completions over time and rows by status into this file, in the "
            f"format its suffix names ({plot_formats_said()}); a name without a suffix is a PNG.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the same facts as one JSON object (for scripts and monitors): counts, tokens, "
            "latency, orphans, cost, tool calls, the rows not completed by kind (cut_at_ceiling: of them, "
            "those incomplete at the output token ceiling), the rows not in the "
            "last run's input (not_in_input: left out of rows, counts and the projection), how the last "
            "run ended (last_run: ended, at, why; null when none ran) and the live run holding the "
            "batch (held_by: host, pid; null when none does).",
        ),
    ] = False,
) -> None:
    """Counts by status, tokens, latency percentiles, whether a run holds the batch; readable while a
    run is going."""
    if plot is not None:
        _refuse_a_plot_it_could_not_write(plot)
    state = the_batch(state, "status")
    import time

    from rowrelay.flows.status_holder import being_sent_next, holding, holding_said
    from rowrelay.tasks.state import summary
    from rowrelay.tasks.state.failures import kinds_said
    from rowrelay.tasks.state.run_end import last_run_said

    # Who holds it is read before the rows: read after, a run ending meanwhile would leave rows shown in
    # flight that "no run holds", the very confusion of a killed run this is to tell apart.
    held = holding(existing(state), time.time())
    try:
        facts = summary(state)
    except StateError as exc:
        fail(state_problem(exc, state))
    if as_json:
        import json

        # stdout holds the object alone; what else is said (a plot written) goes to stderr
        said = {"batch": state.name, "state": str(state), **facts, "held_by": held.as_json()}
        print(json.dumps(said, indent=2))
        if plot is not None:
            _draw(state, plot, Console(stderr=True, markup=False))
        return
    table = Table(title=f"batch {state.name}")
    table.add_column("status")
    table.add_column("rows", justify="right")
    for name, count in facts["counts"].items():
        if count:
            table.add_row(name, f"{count:,}")
    out.print(table, soft_wrap=False)  # a table fits itself to the width
    if facts["not_in_input"]["rows"]:
        out.print(_not_in_input(facts["not_in_input"]))
    p50, p95 = facts["latency_p50"], facts["latency_p95"]
    out.print(
        f"rows {facts['rows']:,}  {_tokens_said(facts)}  orphans {facts['orphans']:,}"
        + (" (creates whose answer was lost: possible duplicate jobs)" if facts["orphans"] else ""),
    )
    if facts["endpoints"]:
        by_endpoint = "  ".join(f"{name} {n:,}" for name, n in facts["endpoints"].items())
        out.print(f"rows by endpoint  {by_endpoint}")
    if facts["tool_calls"]:
        per_row = facts["tool_calls"] / max(1, facts["counts"]["completed"])
        out.print(
            f"tool calls {facts['tool_calls']:,} (web searches, file searches, code interpreter containers: "
            f"billed beside the tokens), {per_row:.1f} a completed row",
        )
    if p50 is not None:
        out.print(f"latency p50 {p50:.2f}s  p95 {p95:.2f}s")
    if facts["not_completed"]:  # what a run's closing line sends the user here to learn
        out.print(f"did not complete: {kinds_said(facts['not_completed'])}")
        if facts["cut_at_ceiling"]:  # a retry as is pays for the same cut answer again
            from rowrelay.flows.closing_advice import ceiling_advice

            out.print(ceiling_advice(facts["cut_at_ceiling"]))
    if (holder := holding_said(held, facts["counts"], lambda: being_sent_next(state))) is not None:
        out.print(holder)
    if (ended := last_run_said(facts["last_run"])) is not None:
        out.print(ended)
    if facts["cost_usd"] is not None:
        projected = facts["projected_cost_usd"]
        out.print(
            f"cost {usd(facts['cost_usd'])} spent, ~{usd(projected)} projected for the whole batch "
            f"(cached input tokens {facts['cached_input_tokens']:,})",
        )
    elif _no_usage(facts):  # a price file would not help: there are no counts to price
        out.print("cost unknown: the server answered without token usage, so no row could be priced")
    elif facts["counts"].get("completed"):  # answered, perhaps paid for, at a price no one knew
        out.print("cost unknown: no row has a price (its model had none; `run --prices FILE` adds one)")
    if plot is not None:
        _draw(state, plot, out)


def _tokens_said(facts: dict[str, Any]) -> str:
    """'tokens in 1,234 out 567 (reasoning 0)'; for rows answered with no token count at all, as a server
    that leaves usage out (vLLM, Ollama) answers, that they are not known: it said 'tokens in 0 out 0' of
    a 2,000-row batch it had answered."""
    if _no_usage(facts):
        return "tokens not known (the server answered without token usage)"
    return (
        f"tokens in {facts['input_tokens']:,} out {facts['output_tokens']:,} "
        f"(reasoning {facts['reasoning_tokens']:,})"
    )


def _no_usage(facts: dict[str, Any]) -> bool:
    """Rows completed and not one token counted: a server that leaves usage out answered them."""
    return bool(facts["counts"]["completed"]) and not (facts["input_tokens"] or facts["output_tokens"])


def _not_in_input(left_out: dict[str, Any]) -> str:
    """What `status` says of rows the last run's input did not hold (`summarize`'s `not_in_input`): they
    are not left to do, so the counts above and the projection leave them out; what they cost is spent."""
    by_status = ", ".join(f"{status} {n:,}" for status, n in left_out["counts"].items() if n)
    cost = left_out["cost_usd"]
    spent = f"; the {usd(cost)} they cost is in the cost spent" if cost else ""
    return (
        f"{rows(left_out['rows'])} not in the last run's input ({by_status}): left out of the rows above and "
        f"of the projection{spent}; put back in the input, they resume"
    )


def _refuse_a_plot_it_could_not_write(plot: Path) -> None:
    """Exit 2 naming --plot, before anything is printed, for a picture that would not be written: the
    status was printed, then matplotlib's traceback (exit 1), which a script reading `--json` got too."""
    from rowrelay.tasks.plot_files import plot_file_problem

    if (problem := plot_file_problem(plot)) is not None:
        fail(f"--plot {plot}: {problem}")
    try:
        import rowrelay.tasks.plots  # noqa: F401  # matplotlib, an extra: said missing before the status
    except MissingExtraError as exc:
        fail(str(exc))


def _draw(state: Path, plot: Path, said: Console) -> None:
    from rowrelay.tasks.plots import write_overview  # matplotlib's import costs: only when asked

    try:
        written = write_overview(state, plot)
    except UsageError as exc:  # the path changed since the check: a directory made there meanwhile
        fail(f"--plot {exc}")
    except OSError as exc:  # what no check could know before: a name too long, a disk full
        fail(f"--plot {plot}: cannot write it ({exc.strerror or exc})")
    said.print(f"wrote {written}")


def cancel(state: StateArg = None) -> None:
    """Cancel the batch's in-flight background responses on the server (the state stays resumable)."""
    state = the_batch(state, "cancel", changes_it=True)
    from rowrelay.flows.batch_holder import how_to_stop_the_holder
    from rowrelay.flows.cancelling import cancel_batch
    from rowrelay.flows.status_holder import being_sent_next
    from rowrelay.tasks.run.stops import said_on_stop

    try:
        # Read before the cancel opens the batch, which makes those rows orphans, an attempt each. By the
        # batch's own attempts (run.json), as the cancel's open notes on those rows what becomes of them.
        orphans_then = being_sent_next(existing(state))
        cancelled = cancel_batch(existing(state))
    except StateError as exc:
        # The run holding the batch cancels its own in-flight responses when it is stopped (README): how
        # to stop it depends on what it is (a Jupyter kernel is interrupted, never killed).
        held = how_to_stop_the_holder(state) if isinstance(exc, LeaseHeldError) else ""
        fail(state_problem(exc, state, held=held))
    except UsageError as exc:
        fail(str(exc))
    if cancelled.unreached:
        # Not done: those may run on, and be paid for. Exit 1, as a run whose rows did not all complete.
        fail(
            f"{said_on_stop([cancelled])}; run `rowrelay cancel {shell_arg(state)}`"
            " again once the server answers",
            code=1,
        )
    if not cancelled.anything:
        out.print("nothing was in flight: no response to cancel")
        return
    resume = "run the batch again to resume the rest"
    if cancelled.cancelled:
        # Cancelled on request, they stay `cancelled`, which a run does not send again (it sent nothing
        # and exited 1 when this said only "run the batch again"): `retry` names them first.
        resume = (
            "the cancelled rows stay cancelled, which a run does not send again: "
            f"`rowrelay retry {shell_arg(state)} --status cancelled`"
            " makes them eligible again, then run the batch "
            "again to send them and the rest"
        )
    if cancelled.orphaned:
        # What the run does with those rows (sends them again, perhaps paid twice; or holds them), said
        # before it is suggested.
        resume += f" (it {orphans_then})"
    out.print(f"{said_on_stop([cancelled])}; {resume}")


def retry(
    state: StateArg = None,
    status: Annotated[
        str,
        typer.Option(
            "--status",
            help=f"Statuses to make eligible again, comma-separated, any of {', '.join(NOT_COMPLETED)} "
            "(cancelled rows, stopped on request, only when named).",
        ),
    ] = _RETRY_DEFAULT,
) -> None:
    """Make rows with these statuses eligible again (they go back to pending; completed never do)."""
    from rowrelay.tasks.state.retrying import retried, retried_statuses

    state = the_batch(state, "retry", changes_it=True)
    try:
        made, lost, cut = retried(state, status)
    except StateError as exc:
        fail(state_problem(exc, state))
    except UsageError as exc:
        fail(str(exc))
    if not made:
        named = " or ".join(retried_statuses(status, state))  # checked by the retry itself
        out.print(f"no row is {named}: nothing to make eligible again")
        return
    them = "it" if made == 1 else "them"
    # Sending a row again whose earlier create may have started a job can pay for it twice: said here,
    # where the person decides, as well as when the next run sends it.
    earlier = "" if not lost else (
        f" ({lost:,} of their earlier creates got no answer: those jobs may have run and been billed, and"
        f" sending {them} again may pay twice)"
    )  # fmt: skip
    from rowrelay.flows.closing_advice import ceiling_said

    # Rows cut at their output ceiling end so again at the same one: said where the person decides too.
    again = f"{rows(made)} made eligible again; run the batch again to send {them}"
    out.print(f"{again}{earlier}{ceiling_said(cut)}")


def _open(state: Path) -> StateTable:
    from rowrelay.tasks.state import StateTable

    return StateTable.open(state)
