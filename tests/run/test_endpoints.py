"""Reading an endpoints file: each entry a full `Settings` over the run's, keys only from the variables
entries name, and every bad file refused in one line that never repeats a key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rowrelay.tasks.errors import UsageError
from rowrelay.tasks.run.endpoints import load_endpoints
from rowrelay.tasks.run.shards import apportion
from rowrelay.tasks.settings import Settings

_TOML = """
[[endpoints]]
name = "east"
base_url = "http://east.invalid/v1"
api_key_env = "ROWRELAY_TEST_EAST_KEY"
rpm = 3000

[[endpoints]]
name = "west"
backend = "azure"
azure_endpoint = "https://west.openai.azure.com"
azure_api_key_env = "ROWRELAY_TEST_WEST_KEY"
model = "my-deployment"
max_in_flight = 40
"""


def _run_settings() -> Settings:
    return Settings(
        backend="openai", rpm=500, tpm=1_000_000, poll_rpm=900, max_in_flight=100, model="gpt-4.1"
    )


def test_entries_override_the_run_settings_and_read_keys_from_the_variables_they_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROWRELAY_TEST_EAST_KEY", "sk-east-secret")
    monkeypatch.setenv("ROWRELAY_TEST_WEST_KEY", "az-west-secret")
    path = tmp_path / "endpoints.toml"
    path.write_text(_TOML)
    east, west = load_endpoints(path, _run_settings())
    assert (east.name, east.settings.base_url, east.settings.rpm) == ("east", "http://east.invalid/v1", 3000)
    assert east.settings.api_key is not None
    assert east.settings.api_key.get_secret_value() == "sk-east-secret"
    assert (east.settings.tpm, east.settings.max_in_flight, east.settings.model) == (
        1_000_000,
        100,
        "gpt-4.1",
    )
    assert (west.settings.backend, west.settings.model, west.settings.max_in_flight) == (
        "azure",
        "my-deployment",
        40,
    )
    assert west.settings.azure_api_key is not None
    assert west.settings.azure_api_key.get_secret_value() == "az-west-secret"
    assert (west.settings.rpm, west.settings.api_key) == (500, None)  # the run's rpm; no OpenAI key
    assert "secret" not in repr(east) + repr(west)
    assert "secret" not in str(east.entry.model_dump())


def test_json_lists_the_same_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROWRELAY_TEST_EAST_KEY", "sk-east-secret")
    path = tmp_path / "endpoints.json"
    path.write_text('{"endpoints": [{"name": "east", "api_key_env": "ROWRELAY_TEST_EAST_KEY", "rpm": 60}]}')
    (east,) = load_endpoints(path, _run_settings())
    assert east.settings.rpm == 60
    bare = tmp_path / "bare.json"
    bare.write_text('[{"name": "a"}, {"name": "b", "poll_rpm": 7}]')
    assert [e.settings.poll_rpm for e in load_endpoints(bare, _run_settings())] == [900, 7]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"name": "a", "rpx": 5}]', r"endpoint 'a': unknown field 'rpx' \(known: name, backend,"),
        ('[{"name": "a"}, {"name": "a"}]', r"endpoint name\(s\) listed twice: a$"),
        ('[{"name": "a", "api_key_env": "ROWRELAY_TEST_UNSET_KEY"}]',
         r"endpoint 'a': environment variable ROWRELAY_TEST_UNSET_KEY is not set"),
        ('[{"name": "a", "rpm": 0}]', r"endpoint 'a': rpm: input should be greater than or equal to 1"),
        ('[{"name": "a", "backend": "bard"}]', r"endpoint 'a': backend: input should be"),
        ('[{"rpm": 5}]', r"endpoint 1: name: field required$"),
        ("[]", r"lists no endpoint$"),
        ('{"endpoint": []}', r"expected only a list named endpoints"),
        ("[1, 2", r"not valid JSON \("),
    ],
)  # fmt: skip
def test_a_bad_file_is_one_usage_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "endpoints.json"
    path.write_text(text)
    with pytest.raises(UsageError, match=rf"^--endpoints {path}: .*{message}") as caught:
        load_endpoints(path, _run_settings())
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("field", ["api_key", "azure_api_key", "key", "OPENAI_API_KEY"])
def test_a_key_written_in_the_file_is_refused_without_repeating_it(tmp_path: Path, field: str) -> None:
    path = tmp_path / "endpoints.toml"
    path.write_text(f'[[endpoints]]\nname = "east"\n{field} = "sk-literal-secret"\n')
    with pytest.raises(
        UsageError, match=rf"endpoint 'east': '{field}' would put a key in the file"
    ) as caught:
        load_endpoints(path, _run_settings())
    assert "sk-literal-secret" not in str(caught.value)


def test_an_unreadable_or_unknown_kind_of_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        UsageError, match=r"^--endpoints .*missing.toml: cannot read it \(No such file or directory\)$"
    ):
        load_endpoints(tmp_path / "missing.toml", _run_settings())
    other = tmp_path / "endpoints.yaml"
    other.write_text("- name: a\n")
    with pytest.raises(UsageError, match=r"must be a \.toml or \.json file$"):
        load_endpoints(other, _run_settings())
    bad = tmp_path / "endpoints.toml"
    bad.write_text("[[endpoints]\n")
    with pytest.raises(UsageError, match=r"not valid TOML \(") as caught:
        load_endpoints(bad, _run_settings())
    assert "\n" not in str(caught.value)


def test_entries_from_python_are_read_the_same_way() -> None:
    east, west = load_endpoints([{"name": "east", "rpm": 10}, {"name": "west"}], _run_settings())
    assert (east.settings.rpm, west.settings.rpm) == (10, 500)
    with pytest.raises(UsageError, match=r"^endpoints: endpoint 'x': unknown field 'max_cost'"):
        load_endpoints([{"name": "x", "max_cost": 5}], _run_settings())


@pytest.mark.parametrize(
    ("total", "weights", "parts"),
    [
        (18, [300, 100], [14, 4]),
        (10, [1, 1, 1], [4, 3, 3]),
        (0, [5, 7], [0, 0]),
        (7, [1], [7]),
        (5, [1, 1000], [0, 5]),
    ],
)
def test_rows_are_apportioned_by_weight_and_the_parts_add_up(
    total: int, weights: list[int], parts: list[int]
) -> None:
    assert apportion(total, weights) == parts


def test_the_readmes_example_file_reads_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("### Several endpoints") :]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    path = tmp_path / "endpoints.toml"
    path.write_text(example.group(1))
    monkeypatch.setenv("EAST_AZURE_KEY", "az-key")
    monkeypatch.setenv("OPENAI_API_KEY_2", "sk-key")
    east, second = load_endpoints(path, _run_settings())
    assert (east.settings.backend, east.settings.model, east.settings.rpm) == (
        "azure",
        "gpt-4-1-mini-east",
        3000,
    )
    assert (second.settings.backend, second.settings.rpm, second.settings.model) == (
        "openai",
        1000,
        "gpt-4.1",
    )


KEY = "sk-TRIALSECRET1234567890abcdef"
AZURE_KEY = "bd2e7a41c0f94c3e8d6a5b1f07c9e2d4"  # an Azure key is lower-case hex


@pytest.mark.parametrize(("field", "key"), [("api_key_env", KEY), ("azure_api_key_env", AZURE_KEY),
                                            ("api_key_env", AZURE_KEY)])  # fmt: skip
def test_a_key_given_where_its_variable_is_named_is_never_repeated(field: str, key: str) -> None:
    """`api_key_env = "sk-..."`: the key pasted where the name of its variable goes. Refused as no
    variable's name, or said as a variable that is not set, without repeating it either way."""
    entry = {"name": "east", "backend": "azure" if field.startswith("azure") else "openai", field: key}
    if field.startswith("azure"):
        entry["azure_endpoint"] = "https://east.openai.azure.com"
    with pytest.raises(UsageError) as caught:
        load_endpoints([entry], Settings())
    said = str(caught.value)
    assert said.startswith("endpoints: endpoint 'east': ")
    assert key[8:-4] not in said


def test_an_endpoints_azure_url_with_credentials_is_told_to_give_azures_key() -> None:
    entry = {
        "name": "east",
        "backend": "azure",
        "azure_endpoint": "https://u:pw-5e1f0c9a7b@east.openai.azure.com",
    }
    with pytest.raises(UsageError) as caught:
        load_endpoints([entry], Settings())
    said = str(caught.value)
    assert said.startswith("endpoints: endpoint 'east': azure_endpoint: must not hold credentials")
    assert said.endswith("(AZURE_OPENAI_API_KEY, or an endpoint's azure_api_key_env)")
    assert "pw-5e1f0c9a7b" not in said
