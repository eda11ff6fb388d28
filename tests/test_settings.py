"""`load_settings` is the one place settings are validated: a bad value is one `UsageError` line naming
the option it came from, or else its environment variable, and never repeating a secret."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.settings import load_settings


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rpm": -5}, "--rpm: must be at least 1 (got -5)"),
        ({"request_timeout": 0}, "--request-timeout: must be more than 0.0 (got 0)"),
        ({"mode": "nope"}, "--mode: must be 'poll' or 'stream' (got 'nope')"),
        ({"max_attempts": "three"}, "--max-attempts: must be a whole number (got 'three')"),
        ({"model": ""}, "--model: must be a model's (or Azure deployment's) name, without spaces (got '')"),
        (
            {"model": "gpt 4"},
            "--model: must be a model's (or Azure deployment's) name, without spaces (got 'gpt 4')",
        ),
    ],
)
def test_a_bad_override_names_its_option(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings(**overrides)
    assert str(caught.value) == message


def test_a_bad_environment_value_names_its_variable_after_any_bad_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROWRELAY_POLL_RPM", "0")
    with pytest.raises(UsageError, match=r"^ROWRELAY_POLL_RPM: must be at least 1 \(got '0'\)$"):
        load_settings()
    with pytest.raises(UsageError, match=r"^--tpm: "):
        load_settings(tpm=0)


def test_a_secret_is_never_repeated(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings(api_key=["sk-secret"])
    assert str(caught.value).startswith("--api-key: ")
    assert "sk-secret" not in str(caught.value)
    assert load_settings(api_key="sk-fine").api_key == SecretStr("sk-fine")
