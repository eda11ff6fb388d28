"""What a run's closing summary tells the user to do about the rows that did not complete.

Most such rows are made eligible again by `rowrelay retry`, then sent by the next run. Not a row that
failed for its own input before it was sent (`bad_input`: an empty prompt, a file that cannot be read): a
retry of it with its input unchanged only fails it again, unsent. Its input is what needs fixing, and once
it is (the text filled in), the same command sends it as an edited row never sent, with no retry
(tasks/run/edited_inputs.py). A file put back under the same name leaves the row's input as it was (rows
are told edited by what the input says, not by the file's bytes): that row alone needs the retry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from rowrelay.tasks.records import NOT_COMPLETED, RETRY_BY_DEFAULT, rows

if TYPE_CHECKING:  # the summary's kinds, read here only by key: no Arrow for a closing line
    from rowrelay.tasks.state.failures import FailureKind


def failed_for_their_input(kinds: Iterable[FailureKind]) -> int:
    """How many of the rows that did not complete (`state.failures` kinds) failed for their own input."""
    return sum(
        kind["rows"] for kind in kinds if kind["status"] == "failed" and kind["error_type"] == "bad_input"
    )


def not_completed_line(state_dir: str, counts: Mapping[str, int], bad_input: int) -> str:
    """The closing line for a run some of whose rows did not complete: where to look, and the way on for
    the rows failed for their input (`bad_input` of them) and for the others."""
    said = f"some rows did not complete: see `rowrelay status {state_dir}`"
    retry = retry_command(state_dir, counts)
    if not bad_input:
        return f"{said}; `{retry}` makes them eligible again"
    it = "it" if bad_input == 1 else "them"
    said += (
        f"; {rows(bad_input)} failed for {'its' if bad_input == 1 else 'their'} own input, never sent "
        f"(bad_input: an empty prompt, a file that cannot be read): fix {it} in the input and run the same "
        f"command, which sends {it} as edited, with no retry (for a file put back under the same name: "
        f"`rowrelay retry {state_dir}`)"
    )
    others = sum(counts.get(status, 0) for status in NOT_COMPLETED) - bad_input
    if others > 0:
        said += f"; `{retry}` makes the other {rows(others)} eligible again"
    return said


def retry_command(state_dir: str, counts: Mapping[str, int]) -> str:
    """The `retry` that takes every row not completed: plain `retry` leaves cancelled rows as they are
    (a cancel someone asked for), so a batch holding some names the statuses it has."""
    left = [status for status in NOT_COMPLETED if counts.get(status)]
    if set(left) <= set(RETRY_BY_DEFAULT):
        return f"rowrelay retry {state_dir}"
    return f"rowrelay retry {state_dir} --status {','.join(left)}"
