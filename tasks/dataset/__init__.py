"""Reading a batch's input, giving each row a stable key, rendering prompts, and writing outputs.

Everything here runs before a request is spent (read, validate, prepare) or after the last one returns
(write); it knows nothing of models, state or Prefect.

    >>> frame = read_input("data/sample/tickets.csv")
    >>> prepared = prepare(frame, InputSpec(template="Subject: {subject}\\n\\n{body}", id_column="ticket_id"))
    >>> write_output(prepared.frame, results, "data/output/tickets.parquet")
"""

from __future__ import annotations

from rowrelay.tasks.dataset.prepare import input_fingerprint, prepare
from rowrelay.tasks.dataset.reading import INPUT_EXTENSIONS, read_input
from rowrelay.tasks.dataset.spec import InputSpec, PreparedInput, PreparedRow
from rowrelay.tasks.dataset.templates import render_template, template_fields
from rowrelay.tasks.dataset.writing import (
    OUTPUT_EXTENSIONS,
    RESULT_COLUMNS,
    OutputFormat,
    output_problem,
    write_output,
)

__all__ = [
    "INPUT_EXTENSIONS",
    "OUTPUT_EXTENSIONS",
    "RESULT_COLUMNS",
    "InputSpec",
    "OutputFormat",
    "PreparedInput",
    "PreparedRow",
    "input_fingerprint",
    "output_problem",
    "prepare",
    "read_input",
    "render_template",
    "template_fields",
    "write_output",
]
