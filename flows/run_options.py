"""The options `run` and `deploy` share, declared once: how each scheduled run of a deployment sends its
rows (rates, attempts, backend, cost cap, ...) is what `run` takes, and reaches every run's parameters.

Built only when `run` or `deploy` is (each option's help is its setting's description, `about`), never for
`status` or `--help` (tests/flows/test_cli_imports.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from rowrelay.flows.cli_options import DASK, DASK_WORKERS, ENDPOINTS, FAIL_WHEN_FAILED, Opt, about

Template = Annotated[str | None, Opt(help="Prompt template over the columns, e.g. 'Triage: {body}'.")]
PromptColumn = Annotated[str | None, Opt(help="Column holding each row's whole prompt.")]
IdColumn = Annotated[str | None, Opt(help="Column of unique row ids (else a hash of each row).")]
Output = Annotated[Path | None, Opt(help="Output file (.parquet/.pq, .csv, .tsv or .jsonl/.ndjson).")]
Instructions = Annotated[str | None, Opt(help="Instructions (system prompt) sent with every row.")]
ImageDetail = Annotated[str | None, Opt(help=about("image_detail"))]
Logprobs = Annotated[int | None, Opt(help=about("logprobs"))]
FileColumn = Annotated[
    str | None,
    Opt(
        help="Column of files sent with each row's prompt (PDFs, documents, spreadsheets): an http(s) URL, "
        "an uploaded file id, or a local file (relative to the input's folder); several as a JSON array."
    ),
]
ImageColumn = Annotated[
    str | None,
    Opt(
        help="Column of images sent with each row's prompt: an http(s) or data URL, an uploaded file id, "
        "a local PNG/JPEG/GIF/WebP file (relative to the input's folder), or the image's bytes in a "
        "Parquet input; several as a JSON array."
    ),
]
Model = Annotated[str | None, Opt(help=about("model"))]
Mode = Annotated[str | None, Opt(help=about("mode"))]
Rpm = Annotated[int | None, Opt(help=about("rpm"))]
Tpm = Annotated[int | None, Opt(help=about("tpm"))]
PollRpm = Annotated[int | None, Opt(help=about("poll_rpm"))]
MaxInFlight = Annotated[int | None, Opt(help=about("max_in_flight"))]
MaxAttempts = Annotated[int | None, Opt(help=about("max_attempts"))]
BaseUrl = Annotated[str | None, Opt(help=about("base_url"))]
Backend = Annotated[str | None, Opt(help=about("backend"))]
Agent = Annotated[
    str | None, Opt(help="Agent Framework agent factory module:function (OpenAIChatClient -> Agent).")
]
Schema = Annotated[str | None, Opt("--schema", help=about("output_schema"))]
MaxCost = Annotated[float | None, Opt(help=about("max_cost"))]
ServiceTier = Annotated[str | None, Opt(help=about("service_tier"))]
MaxOutputTokens = Annotated[int | None, Opt(help=about("max_output_tokens"))]
ReasoningEffort = Annotated[str | None, Opt(help=about("reasoning_effort"))]
Temperature = Annotated[float | None, Opt(help=about("temperature"))]
ReasoningSummary = Annotated[str | None, Opt(help=about("reasoning_summary"))]
Tools = Annotated[str | None, Opt(help=about("tools"))]
MaxToolCalls = Annotated[int | None, Opt(help=about("max_tool_calls"))]
Prices = Annotated[Path | None, Opt(help=about("prices"))]
FailWhenFailed = Annotated[str | None, Opt(help=FAIL_WHEN_FAILED)]
Endpoints = Annotated[Path | None, Opt(help=ENDPOINTS)]
Dask = Annotated[str | None, Opt(help=DASK)]
DaskWorkers = Annotated[int | None, Opt(help=DASK_WORKERS)]
GiveUpAfter = Annotated[float | None, Opt(help=about("give_up_after"))]
ResendEdited = Annotated[
    bool,
    Opt(
        "--resend-edited",
        help="Send again, under their new text, the rows this batch sent whose input was edited since (a "
        "typo fixed): each is paid for again, its earlier answer dropped, what it cost still counted; "
        "the other rows are left as they are. Without it, such rows refuse the run. A row whose response "
        "to its old text may still be running is refused even so.",
    ),
]
