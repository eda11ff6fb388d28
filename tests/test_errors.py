"""rowrelay's errors cross process boundaries whole: a shard's error on a Dask worker reaches the
coordinator pickled, and must arrive as the same error, message and fields (an error whose `__init__`
takes more than its message failed to unpickle, and Dask answered with a recursion of serialization
errors instead of the one line the command says)."""

from __future__ import annotations

import inspect
import pickle

import pytest

import rowrelay.tasks.llm.agent_code_errors  # as calls: every error, whatever ran before
import rowrelay.tasks.llm.calls  # noqa: F401  # defines errors of its own under RowrelayError
from rowrelay.tasks.errors import RowrelayError
from rowrelay.tasks.llm.refusals import Refusal

SAMPLES = {"message": "m", "path": "state/x.parquet", "reason": "torn", "seconds": 90.0,
           "last_error": "connection refused", "extra": "agents", "feature": "Agents", "retry_after": 1.5,
           "row_key": "row-7", "old": "completed", "new": "pending", "endpoint": "west",
           "refusal": Refusal("input", "context_length_exceeded", "m"),
           "result": {"completed": 3}, "rows": ["row-7", "row-9"], "said": "refused",
           "may_have_sent": False, "address": "tcp://10.0.0.5:8786", "why": "no answer"}  # fmt: skip


def _every(kind: type[RowrelayError]) -> list[type[RowrelayError]]:
    return [kind, *(sub for child in kind.__subclasses__() for sub in _every(child))]


def _made(kind: type[RowrelayError]) -> RowrelayError:
    parameters = list(inspect.signature(kind.__init__).parameters.values())[1:]
    positional = [p for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
    if not positional:  # Exception's own (*args)
        return kind("m")
    required = [p for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    return kind(**{p.name: SAMPLES[p.name] for p in [*positional, *required]})


@pytest.mark.parametrize("kind", _every(RowrelayError), ids=lambda kind: kind.__name__)
def test_every_error_survives_pickling_as_itself(kind: type[RowrelayError]) -> None:
    error = _made(kind)
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is kind
    assert (str(back), back.args, vars(back)) == (str(error), error.args, vars(error))
