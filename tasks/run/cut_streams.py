"""Streamed creates whose stream is cut before the response's id came: what a run does once they keep
coming.

A streamed create is sent to learn its id early and follow its events (stream mode; poll mode's first rows,
`poll_streams`). Behind a gateway that cuts or buffers streams (one that cut every stream at 600 bytes,
before `response.created`), each stream opens with a 200, the server has taken the create, and the
connection drops before any event names the job: the row counts an orphan, paid for, and is sent again
(`run.submit`), streamed again and cut again. A trial's 20 rows paid 14 jobs for no answer and stopped
after two minutes saying the server had answered nothing; in stream mode, with every second stream cut,
40 rows paid 70 jobs. A plain create answers with its id in its own body, which such a gateway passes.

So each endpoint's session watches its streamed creates (`CutStreams`): once `CUTS` of the latest
`WINDOW` were cut before their id, it sends plain creates for the rest of the run (the switch a server
refusing streams sets, `Pace.refused_streams`), with one warning naming the cause and the setting. Stream
mode too: its every wait is a stream the same gateway would cut (resumed, it would be cut again, spending
nothing but never ending), so its rows are polled from then on (`RowContext.streaming`), as poll mode's
are; stopping instead would cost the same jobs and leave the run to the user. Streams already followed
go on to their end.

The batch remembers it: the run notes the endpoint in its `run.json` (`RunRecord.streams_cut`, kept by the
batch's later runs), and a later run of the batch starts that endpoint on plain creates, said once as it
takes its first row (`start_plain_if_cut_before`): a run with nothing to send or wait on says nothing.
Without it the same command, resumed, streamed again behind the same gateway and paid `CUTS` more jobs
before it fell back.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rowrelay.tasks.errors import StateError
from rowrelay.tasks.llm import StreamCutError
from rowrelay.tasks.records import WaitMode
from rowrelay.tasks.setting_problems import one_of
from rowrelay.tasks.state.run_record import RunRecord, read_run_record, write_run_record

if TYPE_CHECKING:  # the context holds a `Pace`, which holds `CutStreams`
    from rowrelay.tasks.run.context import RowContext

log = logging.getLogger("rowrelay.submit")

CUTS = 2
"""Streamed creates cut before their id, among the latest `WINDOW`, that end streaming. One is a dropped
connection any network has now and then; the second is a gateway. Not more: each costs a job, and a run
with one row in flight sends that row again and again (at three, a test's one row met every cut and ended
orphaned, its three attempts spent): at two, under the default `--max-attempts` of 3, it keeps one for its
plain create. A run's first creates go `run.alike.ALIKE` (5) at a time until one is answered
(`run.first_creates`), so a gateway that cuts every stream is found within that first burst, before any
more leave; creates already on their way are not called back (with hundreds of streams in flight when
the second cut is read, the run still pays for those the gateway cuts)."""
WINDOW = 20
"""The latest streamed creates `CUTS` is counted among. Not "in a row": a gateway that cuts every second
stream may never cut two in a row as the answers come back, and cost a trial's stream-mode run 30 jobs on
40 rows; one cut in a few hundred streams (a flaky link) seldom has two among twenty."""
WAY_ROUND = "ROWRELAY_POLL_STREAMS=0"
"""The setting that sends every create plain from the start (poll mode)."""


@dataclass
class CutStreams:
    """One endpoint's latest streamed creates, and whether each was cut before its id came."""

    latest: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))
    earlier: str | None = None
    """An earlier run's fall-back, not yet said (`start_plain_if_cut_before`): said as the session takes
    its first row (`say_earlier_cut`), so a run that sends and waits on nothing says nothing of it."""

    def named(self) -> None:
        """A streamed create's stream named its response."""
        self.latest.append(False)

    def cut(self) -> bool:
        """A streamed create's stream was cut before its id came: whether `CUTS` of the latest were."""
        self.latest.append(True)
        return self.latest.count(True) >= CUTS

    def warn(self, cut: StreamCutError, *, asked: WaitMode, endpoint: str | None) -> None:
        """Say, once, that `CUTS` streamed creates were cut and the run streams nothing more: its creates
        go plain and its rows are polled (in stream mode, `asked`, too: its every wait is a stream)."""
        cuts, of = self.latest.count(True), len(self.latest)
        where = "" if endpoint is None else f"endpoint {endpoint!r}: "
        way_round = WAY_ROUND if asked == "poll" else f"{one_of('mode', ('poll',))} with {WAY_ROUND}"
        log.warning(
            "%sstreamed creates were cut before the response's id came, %d of the latest %d (the server "
            "took each, 200, then the stream broke or ended before its first event: a proxy or gateway on "
            "the way that cuts or buffers streams; last: %s); each may have started a job, counted on its "
            "row. This run sends plain creates and polls %s from here on; %s does so from the start",
            where,
            cuts,
            of,
            cut,
            "its rows" if asked == "poll" else "every row, stream mode's waits being streams too,",
            way_round,
        )


def fall_back_if_cut(context: RowContext, cut: StreamCutError) -> None:
    """Count a streamed create's stream cut before its id came; once `CUTS` of the latest were, the run
    streams nothing more on this endpoint (said once), and the batch remembers it (`run.json`)."""
    pace = context.pace
    if not pace.cut_streams.cut() or pace.refused_streams:
        return
    pace.cut_streams.warn(cut, asked=context.policy.mode, endpoint=context.endpoint)
    pace.refused_streams = True  # plain creates, and polls, from here on
    _remember(context.table.directory, context.endpoint)


def start_plain_if_cut_before(context: RowContext, record: RunRecord | None = None) -> None:
    """A session's start: if an earlier run of the batch fell back on this endpoint (`run.json`'s
    `streams_cut`), its creates go plain and its rows are polled from the start, said in one line.
    `record`: the batch's run record as the run wrote it; None, read here (a session opened from Python,
    or a shard's on a Dask worker)."""
    if context.background is None or (context.policy.mode == "poll" and not context.policy.poll_streams):
        return  # nothing would be streamed anyway
    if record is None:
        record = read_run_record(context.table.directory)
    if record is None or record.streams_cut is None or context.endpoint not in record.streams_cut:
        return
    context.pace.refused_streams = True
    # Said at the first row the session takes, not here: a user trial's batch, all its rows completed,
    # said "this run sends plain creates and polls every row" on every later run, which sent nothing.
    where = "" if context.endpoint is None else f"endpoint {context.endpoint!r}: "
    polled = (
        "its rows" if context.policy.mode == "poll" else "every row, stream mode's waits being streams too,"
    )
    context.pace.cut_streams.earlier = (
        f"{where}an earlier run of this batch had its streamed creates cut before the response's id came (a "
        f"proxy or gateway on the way), so this run sends plain creates and polls {polled} from the start; "
        "once streams pass, remove `streams_cut` from the batch's run.json to stream again"
    )


def say_earlier_cut(context: RowContext) -> None:
    """As the session takes a row to send or wait on: say the fall-back an earlier run's cut streams
    left (`start_plain_if_cut_before`), once."""
    cut = context.pace.cut_streams
    if cut.earlier is not None:
        log.warning("%s", cut.earlier)
        cut.earlier = None


def _remember(directory: Path, endpoint: str | None) -> None:
    """Note `endpoint` in the batch's run record (none: a table run from Python without a run, which has
    no record to note it in). Not written, the run goes on: its later runs pay `CUTS` jobs again."""
    try:
        record = read_run_record(directory)
        if record is None or endpoint in (record.streams_cut or []):
            return
        noted = [*(record.streams_cut or []), endpoint]
        write_run_record(directory, dataclasses.replace(record, streams_cut=noted))
    except (OSError, StateError) as exc:
        log.warning("could not note the cut streams in the batch's run.json (%s)", exc)
