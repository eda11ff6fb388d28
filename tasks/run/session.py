"""One run's collaborators, built inside the running loop and closed together.

The backend, the rate budget (aiolimiter binds to the loop it first runs in), the row driver and the
runner are made here from the settings, so callers (the flow, a notebook, the kill test) never wire
them by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from rowrelay.tasks.hosted_tools import tool_list
from rowrelay.tasks.llm import Backend, OutputEstimate, RateBudget, make_backend
from rowrelay.tasks.llm.shared import BankLink
from rowrelay.tasks.llm.usage_counts import MOST_OUTPUT_TOKENS
from rowrelay.tasks.media_refs import Attachment
from rowrelay.tasks.records import RowStatus
from rowrelay.tasks.run.context import RowContext, RunCounters
from rowrelay.tasks.run.cut_streams import start_plain_if_cut_before
from rowrelay.tasks.run.driver import RowDriver
from rowrelay.tasks.run.earlier_orphans import count_earlier_orphans
from rowrelay.tasks.run.holding import telling_holds
from rowrelay.tasks.run.plan import RowPolicy
from rowrelay.tasks.run.progress import Progress
from rowrelay.tasks.run.runner import BatchRunner
from rowrelay.tasks.run.spend import Spend, spent_so_far
from rowrelay.tasks.setting_problems import python_words
from rowrelay.tasks.settings import Settings
from rowrelay.tasks.state import RunRecord, StateTable
from rowrelay.tasks.state.allocator import hand_back_large_blocks

if TYPE_CHECKING:
    from rowrelay.tasks.llm.agent_backend import AgentSource
    from rowrelay.tasks.llm.structured import OutputSchema


@dataclass
class Session:
    backend: Backend
    budget: RateBudget
    driver: RowDriver
    runner: BatchRunner

    async def aclose(self) -> None:
        try:
            await self.backend.aclose()
        finally:
            await self.budget.aclose()


def open_table(directory: Path, settings: Settings, **options: Any) -> StateTable:
    """A batch's state table opened with the run's checkpoint, orphan and attempt settings (`options`:
    the writer, `orphans_among`, ... as `StateTable.open` takes them): the coordinator's, and a shard's on
    a Dask worker."""
    return StateTable.open(
        directory, checkpoint_interval=settings.checkpoint_interval, checkpoint_rows=settings.checkpoint_rows,
        orphan_policy=settings.orphan_policy, max_attempts=settings.max_attempts, **options,
    )  # fmt: skip


@python_words  # a direct call's problems name its fields (`max_cost`), unless a run's flow said whose words
def open_session(
    settings: Settings,
    table: StateTable,
    prompts: Mapping[str, str] | Callable[[str], str],
    *,
    instructions: str | None = None,
    base_url: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    agent: AgentSource | None = None,
    output_schema: OutputSchema | None = None,
    endpoint: str | None = None,
    spend: Spend | None = None,
    counters: RunCounters | None = None,
    shared: BankLink | None = None,
    attachments: Mapping[str, tuple[Attachment, ...]] | Callable[[str], tuple[Attachment, ...]] | None = None,
    record: RunRecord | None = None,
) -> Session:
    """Build a run's collaborators; call from inside the event loop that will run them.

    `agent` (an Agent Framework agent, or a factory taking an `OpenAIChatClient`) runs every row;
    `output_schema` makes every row a structured output that must validate against it; `shared` draws
    the limits from the batch's bank (a shard on a Dask worker: `rowrelay.tasks.cluster`); `attachments` gives
    each row's images and files (`--image-column`, `--file-column`) as `prompts` gives its prompt.
    A `--max-cost` on a model with no known price raises `UsageError` here, before anything is sent.
    With several endpoints, one session per endpoint (`endpoint` names it on the rows it creates, its
    `settings` are that endpoint's, so its budget is its own), all sharing one `spend` (one cost cap for
    the batch) and one `counters` (one story of the run). `record`: the batch's run record as the run
    wrote it, whose notes of earlier runs the session takes (`run.cut_streams`); None, read from the state
    directory.
    """
    hand_back_large_blocks()  # or a long run's RSS grows with the rows done, freed memory glibc kept
    spend = Spend.open(settings, **spent_so_far(table)) if spend is None else spend
    budget = RateBudget(
        rpm=settings.rpm,
        tpm=settings.tpm,
        poll_rpm=settings.poll_rpm,
        max_in_flight=settings.max_in_flight,
        output=OutputEstimate(settings.max_output_tokens, *_answered(table)),
        shared=shared,
        streaming=settings.mode == "stream",
    )
    output_budget = budget.output

    def on_headers(headers: Mapping[str, str]) -> None:
        budget.observe_headers(headers, tokens_needed=output_budget.value())

    backend = make_backend(
        settings, base_url=base_url, on_headers=on_headers, agent=agent, on_taken=budget.on_taken
    )
    # An agent's own server-side tools (not `--tools`, which the settings hold) are billed per call too.
    spend.offer(getattr(backend, "hosted_tools", ()))
    policy = RowPolicy(
        batch_id=table.batch_id,
        model=settings.model,
        instructions=instructions,
        mode=settings.mode,
        poll_streams=settings.poll_streams,
        max_attempts=settings.max_attempts,
        emulated=settings.backend == "emulator",
        max_output_tokens=settings.max_output_tokens,
        queued_timeout=settings.queued_timeout,
        give_up_after=settings.give_up_after,
        orphan_policy=settings.orphan_policy,
        expired_policy=settings.expired_policy,
        output_schema=output_schema,
        service_tier=settings.service_tier,
        reasoning_effort=settings.reasoning_effort,
        temperature=settings.temperature,
        reasoning_summary=settings.reasoning_summary,
        tools=tool_list(settings.tools),
        max_tool_calls=settings.max_tool_calls,
        image_detail=settings.image_detail,
        top_logprobs=settings.logprobs,
    )
    lookup = prompts.__getitem__ if isinstance(prompts, Mapping) else prompts
    attached = attachments.__getitem__ if isinstance(attachments, Mapping) else attachments
    context = RowContext(
        table, backend, budget, policy, lookup, spend=spend, endpoint=endpoint, attachments=attached
    )
    if counters is not None:
        context.counters = counters
    count_earlier_orphans(context)  # their jobs may have been paid for: under the cap from the first create
    driver = RowDriver(context)
    told = None if progress is None else telling_holds(progress, budget, context.hold, endpoint)
    start_plain_if_cut_before(
        context, record
    )  # an earlier run's streams were cut: none streamed (run.cut_streams)
    runner = BatchRunner(driver, progress=told, checkpoint_interval=settings.checkpoint_interval)
    return Session(backend, budget, driver, runner)


def _answered(table: StateTable) -> tuple[int, int]:
    """The batch's answers so far and their output tokens, which the output estimate starts from: a run
    resumed after thirty answers guessed 1,024 tokens again for its first ten rows, and under a cost cap
    sent nothing a few cents below it."""
    completed: tuple[RowStatus, ...] = ("completed",)
    tokens: Any = table.columns(completed, ("output_tokens",)).column("output_tokens")
    seen = len(tokens) - tokens.null_count
    # Each answer counted up to what the estimate learns from one (`MOST_OUTPUT_TOKENS`): a table an older
    # release wrote may hold a server's absurd count (10**12), which summed held every create back.
    capped = pc.min_element_wise(tokens, MOST_OUTPUT_TOKENS, skip_nulls=False)
    return seen, int(pc.sum(capped).as_py() or 0) if seen else 0
