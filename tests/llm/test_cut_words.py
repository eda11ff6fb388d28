"""What a row's error says of a stream cut mid-answer. The lean transport's cause is aiohttp's
`ClientPayloadError`, whose words carry its internal code (`Response payload is not completed:
<TransferEncodingError: 400, message=...>`): in a row's error_message it read as an HTTP 400, a refusal,
where the server had refused nothing. The words now say the connection was cut mid-answer, without it,
on both transports."""

from __future__ import annotations

import asyncio

import pytest

from rowrelay.tasks.errors import TransientError
from rowrelay.tasks.llm.calls import RowRequest
from rowrelay.tasks.llm.responses_backend import Transport
from tests.support.raw_http import backend_on, raw_server, read_request

REQUEST = RowRequest(
    row_key="row-1", prompt="hi", instructions=None, model="gpt-4.1-mini", metadata={"rowrelay_row": "row-1"}
)
CREATED = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":'
    b'{"id":"resp_1","object":"response","status":"queued","model":"gpt-4.1-mini","output":[]}}\n\n'
)


async def _cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event) -> None:
    """A stream's head and a chunk that promises more than it holds, then the connection closed."""
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
    writer.write(b"%x\r\n%s" % (len(CREATED) + 40, CREATED))
    await writer.drain()
    writer.close()


CUT = {
    "lean": "(ClientPayloadError: Response payload is not completed)",
    "sdk": "(RemoteProtocolError: peer closed connection without sending complete message body (incomplete "
    "chunked read))",
}
"""What each transport's error for the cut is quoted as: the SDK's httpx words say what happened."""


@pytest.mark.parametrize("transport", ["lean", "sdk"])
async def test_a_stream_cut_mid_answer_says_so_without_aiohttps_code(transport: Transport) -> None:
    async with raw_server(_cut) as url, backend_on(url, transport) as backend:
        with pytest.raises(TransientError) as created:  # after the event naming its job
            async for _ in backend.create_stream(REQUEST):
                pass
        with pytest.raises(TransientError) as resumed:
            async for _ in backend.resume("resp_1", -1):
                pass
    for raised in (created.value, resumed.value):
        said = str(raised)
        assert said == f"connection problem: the connection was cut mid-answer {CUT[transport]}", said
        assert "400" not in said
