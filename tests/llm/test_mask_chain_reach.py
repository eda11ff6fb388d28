"""Masking a crash in place reaches every exception its traceback prints, and every value it says.

A row's crash is masked in place (`mask_chain_of`) before it goes on: raised as the cause of a run's stop
(`CrashedAlikeError`), it is printed again by whoever logs that stop (the CLI, Prefect's flow run). The
chain followed only causes and contexts, not a group's members (an `ExceptionGroup`, as a TaskGroup
raises), and only string arguments were masked: `ValueError(client)` whose repr shows the key said it.
"""

from __future__ import annotations

from traceback import format_exception

import pytest

from rowrelay.tasks.llm.masking import MASK, mask_chain_of

SECRET = "sk-test-REACH-0a1b2c3d4e5f6a7b8c9d"
FRAGMENT = SECRET[8:-4]


class _Client:
    def __repr__(self) -> str:
        return f"_Client(api_key={SECRET!r})"


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def _caused(error: BaseException) -> BaseException:
    """`error` as the cause of another, as a run's stop is raised `from` the crash."""
    stop = RuntimeError("every row crashes alike")
    stop.__cause__ = error
    return _raised(stop)


CRASHES = {
    "a group's member": lambda: ExceptionGroup("unhandled errors", [ValueError(f"Bearer {SECRET}")]),
    "a nested group's member": lambda: ExceptionGroup(
        "outer", [ExceptionGroup("inner", [KeyError(f"key {SECRET}")])]
    ),
    "an object's repr": lambda: ValueError(_Client()),
    "an object's repr in a KeyError": lambda: KeyError(_Client()),
    "objects among several arguments": lambda: OSError(13, "denied", _Client()),
    "an exception given as an argument": lambda: RuntimeError(ValueError(_Client())),
}


@pytest.mark.parametrize("crash", CRASHES.values(), ids=CRASHES.keys())
def test_a_crash_masked_in_place_says_the_key_nowhere_its_traceback_goes(crash: object) -> None:
    assert callable(crash)
    error = _caused(_raised(crash()))
    assert FRAGMENT in "".join(format_exception(error))  # the crash as made quotes the key
    mask_chain_of(error, [SECRET])
    printed = "".join(format_exception(error))
    assert FRAGMENT not in printed
    assert MASK in printed


def test_values_that_say_no_secret_are_kept_as_they_are() -> None:
    client = object()
    error = ValueError(client, 42)
    mask_chain_of(error, [SECRET])
    assert error.args[0] is client
    assert error.args[1] == 42
