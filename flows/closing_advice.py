"""What a run's closing summary tells the user to do about the rows that did not complete.

Most such rows are made eligible again by `rowrelay retry`, then sent by the next run. Not a row that
failed for its own input before it was sent (`bad_input`: an empty prompt, a file that cannot be read): a
retry of it with its input unchanged only fails it again, unsent. Its input is what needs fixing, and once
it is (the text filled in), the same command sends it as an edited row never sent, with no retry
(tasks/run/edited_inputs.py). A file put back under the same name leaves the row's input as it was (rows
are told edited by what the input says, not by the file's bytes): that row alone needs the retry.

A row sent under an earlier text, then edited and sent again (`--resend-edited`), can fail so too, its new
text emptied: it was sent, and paid for, before, and its attempts and cost say so. "Never sent" was said
of it all the same; it is told apart here (`edited_inputs.never_sent`, the plan's own test of a row never
sent), and its way on is its text fixed and `--resend-edited` again, which pays for it again.

A row whose response the server failed for the row's own input (`invalid_prompt`, an image it cannot
take: `llm.failed_responses`) was sent and paid for too, and a retry sends the same input to be refused,
and paid, again: it is listed apart, its way on the same, its input fixed and `--resend-edited`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rowrelay.tasks.records import NOT_COMPLETED, RETRY_BY_DEFAULT, rows
from rowrelay.tasks.setting_problems import option_of, switch_of
from rowrelay.tasks.shell_words import shell_arg

if TYPE_CHECKING:  # the state's rows, read at the run's end: no Arrow imported for a closing line
    import pyarrow as pa

_WHAT_BAD_INPUT_IS = "bad_input: an empty prompt, a file that cannot be read"


def failed_for_their_input(latest: pa.Table) -> tuple[int, int, int]:
    """Of the rows (`latest`: each row's latest state) that failed for their own input: how many failed
    `bad_input` never sent, how many `bad_input` sent, and paid for, under an earlier text, and how many
    whose response the server failed for their input (`failed_responses.refused_for_input`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from rowrelay.tasks.run.edited_inputs import never_sent

    status, error = latest.column("status"), latest.column("error_type")
    failed: Any = pc.and_kleene(
        pc.equal(status, pa.scalar("failed")), pc.equal(error, pa.scalar("bad_input"))
    )
    bad = latest.filter(pc.fill_null(failed, False))
    unsent: int = pc.sum(pc.fill_null(never_sent(bad), False).cast("int64")).as_py() or 0
    return unsent, bad.num_rows - unsent, _refused_for_input(latest)


def _refused_for_input(latest: pa.Table) -> int:
    """The failed rows whose response failed for their own input, asked once per (type, code) held."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from rowrelay.tasks.llm.failed_responses import refused_for_input

    failed = latest.filter(pc.equal(latest.column("status"), pa.scalar("failed")))
    kinds = failed.group_by(["error_type", "error_code"]).aggregate([([], "count_all")])
    return sum(
        kind["count_all"]
        for kind in kinds.to_pylist()
        if refused_for_input(kind["error_type"], kind["error_code"])
    )


def not_completed_line(
    state_dir: str,
    counts: Mapping[str, int],
    bad_input: int,
    sent_before: int = 0,
    refused: int = 0,
    cut_at_ceiling: int = 0,
) -> str:
    """The closing line for a run some of whose rows did not complete: where to look, and the way on for
    the rows failed for their input (`bad_input` of them never sent, `sent_before` sent under an earlier
    text, `refused` whose response the server failed for it), for those `cut_at_ceiling` (incomplete at
    --max-output-tokens, `ceiling_said`) and for the others."""
    said = f"some rows did not complete: see `rowrelay status {shell_arg(state_dir)}`"
    retry = retry_command(state_dir, counts)
    if not bad_input and not sent_before and not refused:
        return f"{said}; `{retry}` makes them eligible again{ceiling_said(cut_at_ceiling)}"
    put_back = f"(for a file put back under the same name: `rowrelay retry {shell_arg(state_dir)}`)"
    if bad_input:
        it = "it" if bad_input == 1 else "them"
        said += (
            f"; {rows(bad_input)} failed for {'its' if bad_input == 1 else 'their'} own input, never sent "
            f"({_WHAT_BAD_INPUT_IS}): fix {it} in the input and run the same command, which sends {it} as "
            f"edited, with no retry {put_back}"
        )
    if sent_before:
        one = sent_before == 1
        it, its, was, they = ("it", "its", "was", "it") if one else ("them", "their", "were", "they")
        said += (
            f"; {rows(sent_before)} failed for {its} own input and {was} not sent again ({they} {was} sent, "
            f"and paid for, under {its} earlier text; {_WHAT_BAD_INPUT_IS}): fix {it} in the input and run "
            f"with {switch_of('resend_edited')}, which sends {it} again, paid for again {put_back}"
        )
    if refused:
        one = refused == 1
        it, its, was = ("it", "its", "was") if one else ("them", "their", "were")
        said += (
            f"; {rows(refused)} failed for {its} own input at the server ({its} response failed so: "
            f"error_code invalid_prompt, or an image it cannot take; {was} sent, and paid for, and not "
            f"sent again): fix {it} in the input and run with {switch_of('resend_edited')}, which sends {it} "
            "again, "
            f"paid for again (a retry sends {it} unchanged, to be refused and paid for again)"
        )
    others = sum(counts.get(status, 0) for status in NOT_COMPLETED) - bad_input - sent_before - refused
    if others > 0:
        said += f"; `{retry}` makes the other {rows(others)} eligible again{ceiling_said(cut_at_ceiling)}"
    return said


def ceiling_said(cut: int) -> str:
    """What is said of `cut` rows that ended `incomplete` at their output token ceiling, after the advice
    to retry them (`rowrelay status` says it too): a user trial retried 26 such rows at the same
    --max-output-tokens as advised, and each ended incomplete again, paid for twice, nothing said. ''
    when none did."""
    return f", but {ceiling_advice(cut)}" if cut else ""


def ceiling_advice(cut: int) -> str:
    """`26 of them ended incomplete at the output token ceiling ...: raise --max-output-tokens ...`."""
    they, them = ("it ends", "it") if cut == 1 else ("they end", "them")
    effort = option_of("reasoning_effort")
    return (
        f"{cut:,} of them ended incomplete at the output token ceiling (max_output_tokens): sent again at "
        f"the same ceiling {they} the same way, most likely, and {'is' if cut == 1 else 'are'} paid for "
        f"again; raise {option_of('max_output_tokens')} (or, for a reasoning model, lower {effort}) for the "
        f"run that sends {them}"
    )


def retry_command(state_dir: str, counts: Mapping[str, int]) -> str:
    """The `retry` that takes every row not completed: plain `retry` leaves cancelled rows as they are
    (a cancel someone asked for), so a batch holding some names the statuses it has."""
    left = [status for status in NOT_COMPLETED if counts.get(status)]
    if set(left) <= set(RETRY_BY_DEFAULT):
        return f"rowrelay retry {shell_arg(state_dir)}"
    return f"rowrelay retry {shell_arg(state_dir)} --status {','.join(left)}"
