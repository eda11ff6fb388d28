"""Whether the poll budget binds a run: polls that wait long for it, spell after spell for half a minute,
are said once, with the ways out (a higher --poll-rpm, or stream mode). A wait of a few seconds once, as
a resumed batch's first polls have, is not that. The rate budget notes each poll's wait here
(`RateBudget.acquire_poll`)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from rowrelay.tasks.setting_problems import one_of, option_of

log = logging.getLogger("rowrelay.budget")  # the rate budget's words, under the rate budget's logger

POLLS_WAIT_LONG = 2.0
"""Seconds a poll may wait for the poll budget before that wait counts as long: completions are then
noticed late, and slots freed late (measured: 3,000 rows taking 37 s on the default 3,000 polls/min, a
poll waiting 5 s at the median, against 4.7 s at 30,000/min)."""
POLLS_BIND_FOR = 30.0
"""Seconds of long waits, none more than `POLLS_QUIET` apart, before the run says the poll budget binds.
A burst is not that: a resumed batch polls every row it holds at once, and 200 rows on the default budget
wait up to 4 s, once."""
POLLS_QUIET = 10.0
"""Seconds without a long wait that end a spell of them."""


@dataclass
class PollWaits:
    """The spell of long poll waits under way, and whether the run has said the poll budget binds."""

    said: bool = False
    _long_since: float = -math.inf
    _long_last: float = -math.inf

    def note(self, now: float, waited: float, poll_rpm: int, *, streaming: bool) -> None:
        """A poll has waited `waited` seconds for the budget of `poll_rpm`, up to `now`: say once that
        the poll budget binds, when polls have waited long for `POLLS_BIND_FOR`. Streaming, its polls
        are stream resumes and cancels only, so stream mode is no way out to offer."""
        if self.said or waited <= POLLS_WAIT_LONG:
            return
        if now - self._long_last > POLLS_QUIET:
            self._long_since = now  # a new spell of long waits
        self._long_last = now
        if now - self._long_since < POLLS_BIND_FOR:
            return
        self.said = True
        log.warning(
            "polls are waiting for the poll budget (%s %s/min; for %.0f s now, this one %.1f s): "
            "responses that have ended are noticed late, and their in-flight slots freed late; raise "
            "%s where the server allows it%s",
            option_of("poll_rpm"),
            f"{poll_rpm:,}",
            now - self._long_since,
            waited,
            option_of("poll_rpm"),
            "" if streaming else f", or use {one_of('mode', ('stream',))}",
        )
