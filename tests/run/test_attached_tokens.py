"""What a row's images and files cost in input tokens is learned from the answers, so a cost cap over
documents far longer than the guess holds: against the real emulator over a real socket, which bills a
PDF's pages as the service does (each page's image)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rowrelay.tasks.emulator import EmulatorConfig, LatencySpec, running_emulator
from rowrelay.tasks.llm.estimates import ANSWERS_TO_LEARN
from rowrelay.tasks.media_refs import FILE_TOKENS_GUESS, IMAGE_TOKENS_GUESS, Attachment
from rowrelay.tasks.run import open_session
from rowrelay.tasks.run.attached_tokens import AttachedTokens
from rowrelay.tasks.state import load
from tests.support.runs import new_table, prompts, settings_for

IMAGE = Attachment("image", "https://example.com/a.png")
FILE = Attachment("file", "file-abc")


def test_attachments_are_a_guess_until_enough_answers_then_their_mean_with_a_margin() -> None:
    attached = AttachedTokens()
    assert attached.value(()) == 0
    assert attached.value((IMAGE, FILE)) == IMAGE_TOKENS_GUESS + FILE_TOKENS_GUESS
    for _ in range(ANSWERS_TO_LEARN - 1):
        attached.observe(input_tokens=40_100, text_tokens=100, attachments=(FILE,))
    attached.observe(input_tokens=50, text_tokens=100, attachments=())  # text alone: nothing to learn
    assert attached.value((FILE,)) == FILE_TOKENS_GUESS  # nine answers: still the guess
    attached.observe(input_tokens=40_100, text_tokens=100, attachments=(FILE, FILE))
    # 10 answers, 11 files, 400,000 tokens beyond their text: 36,364 a file, with 25% more
    assert attached.value((FILE,)) == 45_455
    assert attached.value((FILE, IMAGE)) == 90_910


@pytest.fixture
def emu() -> Any:
    with running_emulator(EmulatorConfig(latency=LatencySpec.parse("fixed:0.05"), seed=4)) as running:
        yield running


async def test_a_cost_cap_over_documents_far_longer_than_the_guess_is_kept(emu: Any, tmp_path: Path) -> None:
    """Each row's PDF has 20 pages, 33,180 input tokens on gpt-4.1-mini (20 page images), four times the
    8,000 guessed: once the first answers show it, rows are budgeted at what they cost, and the run
    stops within one row of the cap instead of sending rows whose true cost the cap never saw."""
    pdf = tmp_path / "contract.pdf"
    pdf.write_bytes(b"%PDF-1.7\n" + b"<< /Type /Page >>\n" * 20)
    rows, cap = 80, 0.30
    table = new_table(tmp_path / "state", rows)
    files = {key: (Attachment("file", str(pdf)),) for key in prompts(rows)}
    settings = settings_for(emu, max_cost=cap, model="gpt-4.1-mini")
    session = open_session(settings, table, prompts(rows), attachments=files)
    try:
        await session.runner.run()
    finally:
        await session.aclose()
        table.close()
    frame = load(tmp_path / "state")
    costs = frame["cost_usd"].dropna()
    assert frame["input_tokens"].dropna().min() > 33_180  # the pages, and the text
    assert 0 < len(costs) < rows  # the cap stopped the run
    assert costs.sum() <= cap + costs.max()
