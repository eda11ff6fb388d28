"""What `rowrelay run` prints once its run has ended: the rows per status, where the output and state
are, the cost, and each line that says what is left to do (rows sent again, held back by `--limit`, not
completed), and the command's exit code. The progress shown while it runs is `console_progress`'s."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rowrelay.flows.closing_advice import not_completed_line
from rowrelay.flows.outcome import possible_duplicates, sent_again_said
from rowrelay.tasks.records import rows, usd


def closing_summary(console: Console, result: Any) -> int:
    """Print the outcome and where things are; returns the exit code (0 all completed, else 1)."""
    # Every path, name and message below is escaped: rich reads `[v2]` in `data[v2].csv` as a style and
    # drops it, and a path that cannot be pasted back is worse than none.
    table = Table(title=escape(f"batch {result.batch_id}"), show_header=True)
    table.add_column("status")
    table.add_column("rows", justify="right")
    for status, count in result.counts.items():
        if count:
            table.add_row(status, f"{count:,}")  # 1,999,980 pending, as the lines below count them
    console.print(table)
    console.print(
        f"output: [bold]{escape(str(result.output))}[/]   state: {escape(str(result.state_dir))}   "
        f"backend: {escape(str(result.backend))}",
        soft_wrap=True,  # a path cut at the console's width cannot be pasted back either
    )
    cost = getattr(result, "cost_usd", None)
    held = sum(getattr(result, "held_back", {}).values())
    if cost is not None:
        projected = getattr(result, "projected_cost_usd", None)
        whole = projected is not None and (held or not result.all_completed)
        console.print(f"cost: {usd(cost)}" + (f" (whole batch: ~{usd(projected or 0.0)})" if whole else ""))
    elif result.counts.get("completed"):  # answers were paid for, perhaps, at a price no one knows
        console.print(
            "cost: unknown: no price for the model, or answers without their token usage (see the warning "
            "above, or at the batch's first run: a model's is said once a batch; --prices FILE adds a "
            "price)",
            soft_wrap=True,  # whole, as the lines above: a phrase cut at 80 columns reads as two
        )
    # after the cost, which it qualifies; before the returns, so a run whose such rows completed says it
    lost = possible_duplicates(
        getattr(result, "rows_orphaned_this_run", 0),
        getattr(result, "orphans_this_run", 0),
        escape(str(result.state_dir)),
    )
    if lost is not None:
        console.print(f"[yellow]{lost}[/]", soft_wrap=True)
    again = sent_again_said(
        getattr(result, "rows_sent_again", 0),  # a warm runner of an older release returns none
        getattr(result, "creates_lost_before", 0),
        getattr(result, "lost_before_usd", None),
        escape(str(result.state_dir)),
        getattr(result, "timed_out_before", 0),
    )
    if again is not None:
        console.print(f"[yellow]{again}[/]", soft_wrap=True)
    calls = getattr(result, "tool_calls", 0)  # a warm runner of an older release returns none
    if calls:
        per_row = calls / max(1, result.counts.get("completed", 0))
        console.print(f"tool calls: {calls:,} ({per_row:.1f} a completed row, billed beside the tokens)")
    if held:
        console.print(
            f"[yellow]--limit: {rows(held)} left for a later run; "
            f"the same command without --limit sends {'it' if held == 1 else 'them'}[/]"
        )
    stopped = getattr(result, "stopped", None)
    if stopped:
        console.print(f"[yellow]{escape(stopped)}[/]", soft_wrap=True)
        return 1
    if not result.all_completed:
        bad_input = getattr(result, "bad_input", 0)  # a warm runner of an older release returns none
        console.print(
            not_completed_line(
                result.state_dir,
                result.counts,
                bad_input,
                getattr(result, "bad_input_sent_before", 0),
                getattr(result, "refused_for_input", 0),
                getattr(result, "cut_at_ceiling", 0),
            ),
            markup=False,
            soft_wrap=True,
        )
        return 1
    return 0
