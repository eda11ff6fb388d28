"""An Azure create refused for its api-version stops the run at once, naming where the version comes from
and rowrelay's default (`azure_versions.api_version_refused`). Against a server on a real socket that
answers as Azure does a version it does not take, through the SDK's Azure client on both transports.
Before, each row was rejected with the server's words alone until the run stopped on its first few."""

from __future__ import annotations

import asyncio

import openai
import orjson
import pytest

from rowrelay.tasks.llm.calls import BackendRefusedError, RequestRejectedError, RowRequest
from rowrelay.tasks.llm.responses_backend import ResponsesBackend, Transport
from tests.support.raw_http import raw_server, read_request, write_answer

REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="my-deployment", metadata={"rowrelay_row": "row-1"}
)


async def _azure_taking_no_version(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: asyncio.Event
) -> None:
    """Azure's answer to a create with an api-version it does not take (a trial's server said the same)."""
    await read_request(reader)
    body = {"error": {"code": "BadRequest", "message": "API version not supported"}}
    await write_answer(writer, 400, "application/json", orjson.dumps(body))


async def _refused(url: str, transport: Transport, version: str, *, azure: bool = True) -> Exception:
    client = (
        openai.AsyncAzureOpenAI(
            azure_endpoint=url.removesuffix("/v1"), api_key="az-key", api_version=version, max_retries=0
        )
        if azure
        else openai.AsyncOpenAI(base_url=url, api_key="sk-test", max_retries=0)
    )
    backend = ResponsesBackend("azure" if azure else "openai", client, client, transport=transport)
    try:
        with pytest.raises(Exception) as caught:  # noqa: PT011  (the test says exactly which)
            await backend.create(REQUEST)
    finally:
        await backend.aclose()
    assert isinstance(caught.value, Exception)
    return caught.value


@pytest.mark.parametrize("transport", ["sdk", "lean"])
async def test_a_version_azure_does_not_take_names_its_variables_and_the_default(
    transport: Transport,
) -> None:
    async with raw_server(_azure_taking_no_version) as url:
        refused = await _refused(url, transport, "2024-02-01")
        default = await _refused(url, transport, "2025-04-01-preview")
        plain = await _refused(url, transport, "", azure=False)
    assert isinstance(refused, BackendRefusedError)
    assert refused.way_on is None  # its words say the way on
    assert str(refused) == (
        "api version 2024-02-01 was refused (400: API version not supported); it comes from "
        "OPENAI_API_VERSION or ROWRELAY_AZURE_API_VERSION (or an endpoints file's azure_api_version): unset "
        "it for rowrelay's default, 2025-04-01-preview, or set one the resource takes"
    )
    assert isinstance(default, BackendRefusedError)
    assert str(default) == (
        "rowrelay's default api version, 2025-04-01-preview, was refused (400: API version not supported); "
        "set OPENAI_API_VERSION (or ROWRELAY_AZURE_API_VERSION) to one the resource takes"
    )
    # A create sent with no api-version (not Azure's client) so answered is a row's refusal, as before.
    assert type(plain) is RequestRejectedError
