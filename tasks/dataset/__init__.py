"""Reading a batch's input, giving each row a stable key, rendering prompts, and writing outputs.

Everything here runs before a request is spent (read, validate, prepare) or after the last one returns
(write); it knows nothing of models, state or Prefect. Names load on first use (`tasks.lazy`): the
spec and the template syntax need neither pandas nor Arrow, so a refused option imports neither.

    >>> frame = read_input("data/sample/tickets.csv")
    >>> prepared = prepare(frame, InputSpec(template="Subject: {subject}\\n\\n{body}", id_column="ticket_id"))
    >>> write_output(prepared.frame, results, "data/output/tickets.parquet")
"""

from typing import TYPE_CHECKING

from rowrelay.tasks.lazy import exports

if TYPE_CHECKING:
    from rowrelay.tasks.dataset.input_spec import InputSpec
    from rowrelay.tasks.dataset.preparing import input_fingerprint, prepare, read_prepared
    from rowrelay.tasks.dataset.reading import INPUT_EXTENSIONS, read_input
    from rowrelay.tasks.dataset.readings import EARLIER_READINGS, FIRST_READING, READING, reads_alike
    from rowrelay.tasks.dataset.spec import PreparedInput, PreparedRow
    from rowrelay.tasks.dataset.template_syntax import template_fields
    from rowrelay.tasks.dataset.templates import render_template
    from rowrelay.tasks.dataset.writing import (
        OUTPUT_EXTENSIONS,
        RESULT_COLUMNS,
        OutputFormat,
        output_problem,
        replaces_input,
        result_clash,
        write_output,
    )

__getattr__, __dir__ = exports(
    __name__,
    {
        "EARLIER_READINGS": "readings",
        "FIRST_READING": "readings",
        "INPUT_EXTENSIONS": "reading",
        "READING": "readings",
        "input_fingerprint": "preparing",
        "InputSpec": "input_spec",
        "OUTPUT_EXTENSIONS": "writing",
        "output_problem": "writing",
        "OutputFormat": "writing",
        "prepare": "preparing",
        "PreparedInput": "spec",
        "PreparedRow": "spec",
        "read_input": "reading",
        "read_prepared": "preparing",
        "reads_alike": "readings",
        "render_template": "templates",
        "replaces_input": "writing",
        "result_clash": "writing",
        "RESULT_COLUMNS": "writing",
        "template_fields": "template_syntax",
        "write_output": "writing",
    },
)

__all__ = [
    "EARLIER_READINGS",
    "FIRST_READING",
    "INPUT_EXTENSIONS",
    "OUTPUT_EXTENSIONS",
    "READING",
    "RESULT_COLUMNS",
    "InputSpec",
    "OutputFormat",
    "PreparedInput",
    "PreparedRow",
    "input_fingerprint",
    "output_problem",
    "prepare",
    "read_input",
    "read_prepared",
    "reads_alike",
    "render_template",
    "replaces_input",
    "result_clash",
    "template_fields",
    "write_output",
]
