"""What Prefect's engine refuses about its API is said in one line; other errors are not taken for it
(the refusal of an address that is no API runs against a real server in test_local_prefect.py)."""

from __future__ import annotations

from rowrelay.flows.prefect_api import engine_refusal


def test_a_server_of_another_major_version_is_said_as_prefect_says_it() -> None:
    exc = RuntimeError(
        "Found incompatible versions: client: 3.8.8, server: 2.19.0. Major versions must match."
    )
    assert engine_refusal(exc, configured=True) == (
        "the Prefect API this run is configured to record in cannot take it: Found incompatible versions: "
        "client: 3.8.8, server: 2.19.0. Major versions must match; nothing was sent"
    )


def test_other_runtime_errors_are_not_taken_for_a_refusal() -> None:
    assert engine_refusal(RuntimeError("Event loop is closed"), configured=True) is None


def test_the_local_server_gone_as_the_run_starts_says_to_run_again() -> None:
    try:
        raise RuntimeError("Failed to reach API at http://127.0.0.1:27000/api/") from OSError(
            "All connection attempts failed"
        )
    except RuntimeError as exc:
        said = engine_refusal(exc, configured=False)
    assert said == (
        "the local Prefect server at http://127.0.0.1:27000/api stopped answering as the run started (All "
        "connection attempts failed); run the same command again; nothing was sent"
    )
