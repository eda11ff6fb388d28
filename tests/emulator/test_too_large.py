"""A create larger than the whole tokens-per-minute limit: OpenAI refuses it with a 429 that no wait
cures ("Request too large ... must be reduced in order to run successfully"), every time it is sent. A
client that read it as a passing limit would wait and send it again for ever."""

from __future__ import annotations

import re

import openai
import pytest

from rowrelay.tasks.emulator import EmulatorConfig, running_emulator
from tests.emulator.contract import Spec
from tests.support.clock import ManualClock
from tests.support.sse import ClientFactory

TOO_LARGE = re.compile(
    r"Request too large for gpt-4\.1 in organization org-emulator on tokens per min \(TPM\): Limit 300, "
    r"Requested (\d+)\. The input or output tokens must be reduced in order to run successfully\. Visit "
    r"https://platform\.openai\.com/account/rate-limits to learn more\."
)


async def test_a_create_over_the_whole_limit_is_refused_each_time_however_long_it_waits(
    make_client: ClientFactory, spec: Spec
) -> None:
    clock = ManualClock()
    with running_emulator(EmulatorConfig(tpm=300), clock=clock) as emu:
        client = make_client(emu)
        for _ in range(3):  # a whole minute between tries refills the bucket, and changes nothing
            with pytest.raises(openai.RateLimitError) as caught:
                await client.responses.create(
                    model="gpt-4.1", input="hi", max_output_tokens=400, background=True
                )
            clock.advance(60.0)
            refused = caught.value
            assert (refused.type, refused.code, refused.param) == ("tokens", "rate_limit_exceeded", None)
            message = refused.response.json()["error"]["message"]
            said = TOO_LARGE.fullmatch(message)
            assert said is not None, message
            assert int(said.group(1)) > 400, "the request's estimate: its prompt and its output ceiling"
            assert "retry-after" not in refused.response.headers, "no wait lets it through"
            spec.check("ErrorResponse", refused.response.json())
        assert not emu.emulator.records, "nothing started"
        # Within the minute's limit the same create is served: the refusal is about its size alone.
        created = await client.responses.create(
            model="gpt-4.1", input="hi", max_output_tokens=200, background=True
        )
        assert created.status == "queued"


async def test_over_a_short_windows_burst_but_within_the_minute_a_create_waits_for_a_full_bucket(
    make_client: ClientFactory,
) -> None:
    # 600 tokens a minute enforced per second: a full bucket holds 10, yet a create of a few hundred is
    # within the minute's limit, so it is let through once the bucket is full (as it was before).
    clock = ManualClock()
    with running_emulator(EmulatorConfig(tpm=600, rate_window=1.0), clock=clock) as emu:
        client = make_client(emu)
        created = await client.responses.create(
            model="gpt-4.1", input="hi", max_output_tokens=400, background=True
        )
        assert created.status == "queued"
        with pytest.raises(openai.RateLimitError) as caught:
            await client.responses.create(model="gpt-4.1", input="hi", max_output_tokens=400, background=True)
        message = caught.value.response.json()["error"]["message"]
        assert message.startswith("Rate limit reached"), "a passing limit: wait and retry"
        assert "retry-after" in caught.value.response.headers
