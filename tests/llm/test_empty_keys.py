"""An empty key variable (`OPENAI_API_KEY=`, as a shell or a .env file leaves one) is no key.

It counted as one: `auto` chose OpenAI over Azure or the emulator, and every request went out with
`Bearer ` and nothing after it, to be refused by the server mid-run; an empty AZURE_OPENAI_API_KEY was
already "not set". Now both are, and a backend that needs the key is refused before anything is sent.
"""

from __future__ import annotations

import pytest

from rowrelay.flows.backends import backend_name
from rowrelay.tasks.emulator import RunningEmulator
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.llm.credentials import credentials_problem
from rowrelay.tasks.settings import load_settings
from tests.support.duplicates import jobs_of

VARIABLES = (
    "OPENAI_API_KEY", "ROWRELAY_API_KEY", "OPENAI_BASE_URL", "ROWRELAY_BASE_URL", "AZURE_OPENAI_API_KEY",
    "ROWRELAY_AZURE_API_KEY", "AZURE_OPENAI_ENDPOINT", "ROWRELAY_AZURE_ENDPOINT", "ROWRELAY_AZURE_AUTH",
    "ROWRELAY_BACKEND",
)  # fmt: skip
NO_KEY = "no API key: set OPENAI_API_KEY"


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "ROWRELAY_API_KEY"])
def test_auto_does_not_take_an_empty_key_for_openai(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "")
    assert backend_name(load_settings()) == "emulator"
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-0123456789")
    assert backend_name(load_settings()) == "azure"


@pytest.mark.parametrize("backend", ["openai", "chat", "agent"])
def test_a_backend_needing_a_key_refuses_an_empty_one_before_anything_is_sent(
    backend: str, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    settings = load_settings(backend=backend, base_url=emulator.url)
    problem = credentials_problem(settings, backend)
    assert problem is not None
    assert problem.startswith(NO_KEY)
    if backend != "agent":  # the agent backend needs rowrelay[agents]; its clients are built the same way
        with pytest.raises(UsageError, match=f"^{NO_KEY}"):
            make_backend(settings)
    assert jobs_of(emulator.url)[0] == {}


def test_an_empty_azure_key_is_still_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "")
    problem = credentials_problem(load_settings(backend="azure"), "azure")
    assert problem is not None
    assert problem.startswith("the azure backend needs AZURE_OPENAI_API_KEY (not set)")
