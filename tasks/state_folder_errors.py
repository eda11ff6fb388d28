"""The state table's errors of a folder the file system refuses: a file this user may not read
(`StateAccessError`), one that could not be written (`StateWriteError`: the disk full, the folder
read-only or gone), a folder this user may not write (`StateWriteDeniedError`), and what each command that
writes the table says when one stops it (`STOPPED_BY_AN_UNWRITABLE_TABLE`).

They are `StateError`s, in the tree `tasks/errors.py` draws; apart because they say what the folder's
permissions and disk refused, not what the table holds (that is `DamagedFileError`'s), and their words are
each command's as much as the table's.
"""

from __future__ import annotations

from rowrelay.tasks.errors import StateError


class StateAccessError(StateError):
    """A file or folder of the state table this user may not read (`path`): its content may be whole, so
    it is never taken for damage, skipped, or moved aside by `rowrelay repair`."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"cannot read {path}: {reason}; nothing was changed: let this user read the batch's folder (or "
            "run as the user who owns it), then try again"
        )
        self.path = path
        self.reason = reason


class StateWriteError(StateError):
    """A state file could not be written (the disk is full, the folder read-only or gone): no row can be
    made durable, so the run stops, not each row in turn. What is already written stays as it was.

    Its text is the run's (the error a run raises, from Python too); `said(command)` is each command's
    own, since what stopped and what the same command does next differ (`STOPPED_BY_AN_UNWRITABLE_TABLE`)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(self.said("run"))

    def said(self, command: str) -> str:
        """The message as `rowrelay COMMAND` says it; a command not named in the table gets its plain
        wording, true of any (what was written stands; the same command goes on)."""
        stopped = STOPPED_BY_AN_UNWRITABLE_TABLE.get(command)
        if stopped is None:
            stopped = (
                f"so `rowrelay {command}` stopped; what it wrote before stands, and once the folder can be "
                "written the same command goes on"
            )
        return f"could not write the state table ({self.path}: {self.reason}), {stopped}"


STOPPED_BY_AN_UNWRITABLE_TABLE: dict[str, str] = {
    "run": (
        "so the run stopped; responses already sent go on on the server, and once the folder can be "
        "written the same command resumes them"
    ),
    # `retry` and `repair` stopped no run, and the same command resumes nothing: it does what is left
    "retry": (
        "so the retry stopped; rows it had not recorded keep their status, and once the folder can be "
        "written the same command makes them eligible again"
    ),
    "cancel": (
        "so the cancel stopped; a response it cancelled on the server stays cancelled, even while the "
        "table still shows its row in flight, and once the folder can be written the same command records "
        "those and cancels the rest"
    ),
    "repair": (
        "so the repair stopped; what it did before stands (a file moved aside stays in the batch's "
        "damaged/ folder), and once the folder can be written the same command finishes it"
    ),
}
"""What a full or read-only state folder stopped, and what the same command does once it can be
written, for each command that writes the table; one table, so no command borrows the run's wording
(`retry`, `cancel` and `repair` said "so the run stopped ... the same command resumes them")."""


class StateWriteDeniedError(StateWriteError):
    """This user may not write the batch's folder (`path`, where the write was refused), found as its
    lease is taken, before anything is changed: a batch made by another user (or by root), a folder
    made read-only for this user. Said as what it is, with the way on: `StateWriteError`'s "so the run
    stopped" read oddly on a first run, or on `retry` and `repair`, which had stopped nothing."""

    def __init__(self, path: str, reason: str) -> None:
        StateError.__init__(
            self,
            f"cannot write the state folder {path}: {reason}; nothing was changed: let this user write the "
            "batch's folder (or run as the user who owns it), then run the same command again",
        )
        self.path = path
        self.reason = reason

    def said(self, command: str) -> str:
        return str(self)  # nothing was changed, whichever command met it: true as it stands
