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


PASSWORD = "pw-5e1f0c9a7b"


@pytest.mark.parametrize(
    "url",
    [
        f"http://user:{PASSWORD}@127.0.0.1:99999/v1",  # a port out of range besides
        f"http://user:{PASSWORD}@[::1/v1",  # a malformed IPv6 address besides
        f"user:{PASSWORD}@127.0.0.1:8000/v1",  # no scheme besides
        f"http://127.0.0.1:99999/v1?key={PASSWORD}",  # a key in the query, and a bad port
        f"https://user:{PASSWORD}@host/v1 x",  # a space within besides
        f"https://host/v1 ?api_key={PASSWORD}",  # a key in the query, and a space within
    ],
)
@pytest.mark.parametrize(("option", "variable"), [("base_url", "OPENAI_BASE_URL"),
                                                  ("azure_endpoint", "AZURE_OPENAI_ENDPOINT")])  # fmt: skip
def test_a_url_holding_credentials_is_refused_for_them_however_else_it_is_wrong(
    monkeypatch: pytest.MonkeyPatch, url: str, option: str, variable: str
) -> None:
    """Checked for credentials (and a query) before anything else: a URL wrong in another way too is said
    with its value, which repeated the password."""
    for given in ({option: url}, {}):
        monkeypatch.setenv(variable, url)
        with pytest.raises(UsageError) as caught:
            load_settings(**given)
        said = str(caught.value)
        assert "must not hold" in said
        assert PASSWORD not in said


def test_a_url_wrong_in_another_way_still_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError) as caught:
        load_settings(base_url="http://127.0.0.1:99999/v1")
    assert str(caught.value) == (
        "--base-url: is not a valid URL (Port out of range 0-65535) (got 'http://127.0.0.1:99999/v1')"
    )
    with pytest.raises(UsageError, match=r"Invalid IPv6 URL"):
        load_settings(base_url="http://[::1/v1")


def test_a_url_pasted_with_spaces_around_it_is_taken_without_them_and_one_within_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """' http://...' passed the check, then the HTTP client could not send to it: every create was counted
    as maybe sent (an attempt and an orphan) when nothing had left."""
    assert load_settings(base_url=" http://127.0.0.1:8000/v1\n").base_url == "http://127.0.0.1:8000/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "\thttp://127.0.0.1:8000/v1 ")
    assert load_settings().base_url == "http://127.0.0.1:8000/v1"
    with pytest.raises(UsageError) as caught:
        load_settings(base_url="http://127.0.0.1:8000 /v1")
    assert str(caught.value) == (
        "--base-url: must not hold spaces or line breaks (got 'http://127.0.0.1:8000 /v1')"
    )


def test_an_azure_endpoint_with_credentials_is_told_to_give_azures_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", f"https://user:{PASSWORD}@east.openai.azure.com")
    with pytest.raises(UsageError) as caught:
        load_settings()
    assert str(caught.value) == (
        "AZURE_OPENAI_ENDPOINT: must not hold credentials (user:password@): they are not sent as the API key "
        "and would be recorded with the run; give the key as the API key (AZURE_OPENAI_API_KEY, or an "
        "endpoint's azure_api_key_env)"
    )
