"""A `ROWRELAY_*` variable a letter or two off one rowrelay reads is refused in one line naming the nearest,
exit 2, before anything starts. Before, it was ignored: `ROWRELAY_RMP=10 rowrelay run ...` ran at 500
creates a minute, and `ROWRELAY_MAXCOST=5` with no spending cap, saying nothing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from rowrelay.flows.request import BatchRequest
from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.setting_problems import misspelt_variable
from rowrelay.tasks.settings import load_settings
from tests.support.local_prefect import stopped_afterwards
from tests.support.preforked import Preforked, preforked

KNOWN = ["ROWRELAY_RPM", "ROWRELAY_TPM", "ROWRELAY_MAX_COST", "ROWRELAY_API_KEY", "ROWRELAY_OUTPUT_SCHEMA"]


@pytest.mark.parametrize(
    ("variable", "meant"),
    [
        ("ROWRELAY_RMP", "ROWRELAY_RPM"),  # two letters swapped
        ("ROWRELAY_MAXCOST", "ROWRELAY_MAX_COST"),  # one left out
        ("rowrelay_max_costs", "ROWRELAY_MAX_COST"),  # read whatever its case
        ("ROWRELAY_APIKEY", "ROWRELAY_API_KEY"),
        ("ROWRELAY_SCHEMA", "ROWRELAY_OUTPUT_SCHEMA"),  # the option's name, not the setting's
    ],
)
def test_a_near_miss_is_named_with_the_variable_meant(variable: str, meant: str) -> None:
    assert misspelt_variable(KNOWN, {variable: "sk-secret-value"}) == (
        f"{variable}: no such setting (did you mean {meant}?); rename the variable, or unset it"
    )


@pytest.mark.parametrize(
    "variable", ["ROWRELAY_RPM", "rowrelay_rpm", "ROWRELAY_EAST_KEY", "ROWRELAY_PROD_KEY", "OPENAI_RMP"]
)
def test_a_known_variable_or_one_far_from_all_is_left_alone(variable: str) -> None:
    """A key an endpoints file names (`ROWRELAY_EAST_KEY`) is the user's own, not a slip."""
    assert misspelt_variable(KNOWN, {variable: "x"}) is None


@pytest.mark.parametrize("variable", ["ROWRELAY_API_KEY_2", "ROWRELAY_AZURE_API_KEYB", "ROWRELAY_APIKEY"])
def test_a_variable_near_only_a_keys_is_left_alone(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoints file's second key is as likely as not named after the first: refused, a working
    configuration would stop at the upgrade; and a key's name misspelt needs no refusal (no key found)."""
    monkeypatch.setenv(variable, "sk-secret-value")
    assert load_settings().rpm == 500  # the settings as they read, nothing refused
    monkeypatch.setenv("ROWRELAY_RMP", "10")
    with pytest.raises(UsageError, match="ROWRELAY_RMP: no such setting"):
        load_settings()  # a near miss of another setting beside it is still refused


def test_a_run_from_python_is_refused_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROWRELAY_TEMPRATURE", "0")
    with pytest.raises(UsageError) as refused:
        BatchRequest.build(pd.DataFrame({"q": ["a"]}), template="{q}")
    assert str(refused.value) == (
        "ROWRELAY_TEMPRATURE: no such setting (did you mean ROWRELAY_TEMPERATURE?); rename the variable, "
        "or unset it"
    )


@pytest.fixture(scope="module")
def commands(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Preforked]:
    with preforked(tmp_path_factory.mktemp("preforked")) as server:
        yield server


def test_rowrelay_run_refuses_a_misspelt_rate_before_anything_starts(
    commands: Preforked, tmp_path: Path
) -> None:
    source, home, state = tmp_path / "in.csv", tmp_path / "home", tmp_path / "state"
    source.write_text("id,text\n1,x\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROWRELAY_", "OPENAI_", "AZURE_"))},
        "ROWRELAY_HOME": str(home),
        "ROWRELAY_RMP": "10",
    }
    args = ["run", str(source), "--id-column", "id", "--template", "{text}", "--state", str(state)]
    with stopped_afterwards(home):  # the old code got as far as starting a server there
        result = commands.run(args, env, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "error: ROWRELAY_RMP: no such setting (did you mean ROWRELAY_RPM?); rename the variable, or unset it"
    ]
    assert result.stdout == ""
    assert not state.exists()
    assert not (home / "emulator.json").exists()
    assert not (home / "prefect-server.json").exists()
