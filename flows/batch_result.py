"""`BatchResult`: what `run_batch` returns, and what the CLI's closing lines and a notebook read."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["BatchResult"]


@dataclass(frozen=True)
class BatchResult:
    batch_id: str
    state_dir: str
    """The batch's state directory, an absolute path."""
    output: str
    """The output file, an absolute path."""
    counts: dict[str, int]
    backend: str
    base_url: str | None
    cost_usd: float | None = None
    """What the batch's rows have cost so far (all runs); None when no row has a price."""
    projected_cost_usd: float | None = None
    stopped: str | None = None
    """Why the run stopped sending rows before the batch was done (the cost cap), if it did."""
    held_back: dict[str, int] = field(default_factory=dict)
    """Rows per status that `limit` left to a later run (in `counts` too)."""
    tool_calls: int = 0
    """Billed server-side tool calls (`--tools`) of the rows' latest responses (all runs)."""
    bad_input: int = 0
    """Rows failed for their own input, never sent (an empty prompt): fixed in the input, they are sent."""
    bad_input_sent_before: int = 0
    """Rows failed for their own input that were sent, and paid for, under an earlier text (edited, then
    resent with --resend-edited): fixed in the input, --resend-edited sends them again."""
    refused_for_input: int = 0
    """Rows whose response the server failed for their own input (`rejected` with its error_code, such
    as invalid_prompt): paid for, never sent again by itself; fixed, --resend-edited sends them again."""
    cut_at_ceiling: int = 0
    """Rows that ended `incomplete` at their output token ceiling (`--max-output-tokens`): sent again at the
    same ceiling, each most likely ends the same way, paid for again (`closing_advice.ceiling_said`)."""
    orphans_this_run: int = 0
    """Creates of this run whose answer was lost: each a possible job on the server, not in `cost_usd`
    (the batch's, of every run, are its state's `orphans`: `rowrelay status`)."""
    rows_orphaned_this_run: int = 0
    """Rows with at least one such create."""
    rows_sent_again: int = 0
    """Rows this run sent again whose earlier creates lost their answers (`run_orphans.sent_again`)."""
    creates_lost_before: int = 0
    """Those earlier creates: each a possible job on the server, the row perhaps paid for twice."""
    lost_before_usd: float | None = None
    """What they may have cost, as the cost cap counts them; None without a price."""
    timed_out_before: int = 0
    """Of `rows_sent_again`, those whose earlier create a timeout cut while the server wrote its answer
    (`error_code` answer_timeout), not a run killed or cut off while sending."""

    @property
    def all_completed(self) -> bool:
        """Every row this run was to take completed (rows `held_back` are a later run's)."""
        return all(count == 0 for status, count in self.run_counts.items() if status != "completed")

    @property
    def run_counts(self) -> dict[str, int]:
        """`counts` less the rows held back: the rows this run sent or waited on, and those done before."""
        return {status: n - self.held_back.get(status, 0) for status, n in self.counts.items()}
