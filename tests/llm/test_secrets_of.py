"""`masking.secrets_of` finds the credentials of every kind of backend a run builds: what a row's crash
(words no server said, no request carries) is masked of. It reads the `ClientKeys` each backend keeps as
`_keys`; a backend that stopped keeping it there would leave crashes unmasked, so each kind is held to it.
"""

from __future__ import annotations

from typing import Any

import pytest

from rowrelay.tasks.llm import make_backend
from rowrelay.tasks.llm.masking import secrets_of
from rowrelay.tasks.settings import Settings

SECRET = "sk-test-SECRETSOF-0123456789abcdef"


@pytest.mark.parametrize(
    "settings",
    [
        {"backend": "openai", "transport": "lean"},
        {"backend": "openai", "transport": "sdk"},
        {"backend": "chat"},
        {"backend": "agent"},
        {"backend": "azure", "azure_endpoint": "https://example.openai.azure.com", "azure_api_key": SECRET},
    ],
    ids=["responses-lean", "responses-sdk", "chat", "agent", "azure"],
)
async def test_every_kind_of_backend_gives_the_key_its_clients_send(settings: dict[str, Any]) -> None:
    values = {"api_key": SECRET, "base_url": "http://127.0.0.1:9/v1", **settings}
    if values["backend"] == "azure":
        del values["base_url"]
    backend = make_backend(Settings(**values))
    try:
        assert SECRET in await secrets_of(backend)
    finally:
        await backend.aclose()


async def test_a_backend_keeping_no_keys_has_none_to_mask() -> None:
    assert await secrets_of(object()) == ()
