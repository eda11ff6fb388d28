"""An Azure OpenAI create refused for its `api-version`: the run's to fix, said with where the version comes
from and the one rowrelay sends by default.

Every call of the Azure client carries the run's api-version in its query (`OPENAI_API_VERSION`, or
`ROWRELAY_AZURE_API_VERSION`, or an endpoints file's `azure_api_version`; else `2025-04-01-preview`). A
version the resource does not take (a trial's `OPENAI_API_VERSION=2024-02-01`, set for another tool) is
refused with a 400 whose words say so (`API version not supported`) and name no parameter: each row was
rejected alike until the run stopped on its first few (`run.refused_alike`), and the line said the
server's words alone, not which setting sent that version nor what the default is.
"""

from __future__ import annotations

import re

import openai

from rowrelay.tasks.llm.calls import BackendRefusedError
from rowrelay.tasks.settings import Settings

__all__ = ["DEFAULT_API_VERSION", "api_version_refused"]

DEFAULT_API_VERSION: str = Settings.model_fields["azure_api_version"].default
"""The api-version a run sends to Azure unless told otherwise."""

_SAYS_API_VERSION = re.compile(r"api[- _]?version", re.IGNORECASE)


def api_version_refused(exc: openai.APIStatusError, words: str) -> BackendRefusedError | None:
    """The run's stop when a create sent with an `api-version` (Azure's client sends one with every call)
    is refused with a 400 whose `words` say api version; None for any other answer."""
    version = exc.request.url.params.get("api-version")
    if exc.status_code != 400 or version is None or _SAYS_API_VERSION.search(words) is None:
        return None
    if version == DEFAULT_API_VERSION:
        where = f"rowrelay's default api version, {version}, was refused"
        way_on = "set OPENAI_API_VERSION (or ROWRELAY_AZURE_API_VERSION) to one the resource takes"
    else:
        where = f"api version {version} was refused"
        way_on = (
            "it comes from OPENAI_API_VERSION or ROWRELAY_AZURE_API_VERSION (or an endpoints file's "
            f"azure_api_version): unset it for rowrelay's default, {DEFAULT_API_VERSION}, or set one the "
            "resource takes"
        )
    return BackendRefusedError(f"{where} (400: {words}); {way_on}", way_on=None)
