"""A key that cannot go in a header (a line break, pasted from a file with it) is refused before a run
starts, naming its variable and never showing the key.

No HTTP client puts a line break in a header: every create of such a run failed, each row recorded as a
crash of rowrelay's (`ValueError: Forbidden control character detected in headers`), exit 1.
"""

from __future__ import annotations

import pytest

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.llm.credentials import credentials_problem
from rowrelay.tasks.settings import Settings, secret_from_env
from tests.support.key_echo import FRAGMENT, SECRET

VARIABLES = (
    "OPENAI_API_KEY", "ROWRELAY_API_KEY", "AZURE_OPENAI_API_KEY", "ROWRELAY_AZURE_API_KEY",
    "AZURE_OPENAI_ENDPOINT", "ROWRELAY_AZURE_ENDPOINT", "ROWRELAY_AZURE_AUTH", "ROWRELAY_BACKEND",
)  # fmt: skip
AZURE = "https://example.openai.azure.com"


@pytest.fixture(autouse=True)
def _no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("variable", ["OPENAI_API_KEY", "ROWRELAY_API_KEY"])
@pytest.mark.parametrize("backend", ["openai", "chat", "agent", "emulator"])
def test_a_key_with_a_line_break_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch, ending: str, variable: str, backend: str
) -> None:
    monkeypatch.setenv(variable, SECRET + ending)
    problem = credentials_problem(Settings(), backend)
    assert problem is not None
    assert problem.startswith(f"{variable} holds a line break")
    assert FRAGMENT not in problem


@pytest.mark.parametrize("variable", ["AZURE_OPENAI_API_KEY", "ROWRELAY_AZURE_API_KEY"])
def test_an_azure_key_with_a_line_break_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", AZURE)
    monkeypatch.setenv(variable, SECRET + "\n")
    problem = credentials_problem(Settings(), "azure")
    assert problem is not None
    assert problem.startswith(f"{variable} holds a line break")
    assert FRAGMENT not in problem


def test_another_control_character_is_said_by_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET[:10] + "\t" + SECRET[10:])
    assert credentials_problem(Settings(), "openai") == (
        "OPENAI_API_KEY holds a control character (0x09), which no key holds: set it to the key alone"
    )


def test_a_key_the_run_does_not_send_is_not_asked_about(monkeypatch: pytest.MonkeyPatch) -> None:
    """Entra ID signs in with a token: an Azure key left in the environment is not sent."""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", AZURE)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET + "\n")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    assert credentials_problem(Settings(), "openai") is None
    assert credentials_problem(Settings(azure_auth="entra"), "azure") in (None, _NO_IDENTITY)


_NO_IDENTITY = (
    "signing in with Microsoft Entra ID needs azure-identity, which is not installed: "
    "pip install 'rowrelay[azure]'"
)


def test_an_endpoints_key_with_a_line_break_is_refused_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EAST_KEY", SECRET + "\r\n")
    with pytest.raises(UsageError) as refused:
        secret_from_env("EAST_KEY", "--endpoints endpoints.toml: endpoint 'east'")
    said = str(refused.value)
    assert said.startswith("--endpoints endpoints.toml: endpoint 'east': EAST_KEY holds a line break")
    assert FRAGMENT not in said
