"""The key a client sends the embedded emulator: the one its own options tell it to require, never a
key of the run's. Read from the settings alone, so a shard on a Dask worker, which reads keys from its
own environment (`run.endpoints.keys_here`), keys it as the run did."""

from __future__ import annotations

import shlex

from pydantic import SecretStr


def embedded_key(emulator_args: str) -> SecretStr | None:
    """The key a client sends the embedded emulator started with `emulator_args`: the one it was told to
    require (its `--api-key K`, the last given, as its command line takes it), else None (it checks none,
    and the client sends `client.EMULATOR_KEY`). Never the run's own key: one set for a real server
    (OPENAI_API_KEY beside `--backend emulator`) must not reach a local test server, and one that requires
    a key of its own refused it (401: the run stopped at its first create)."""
    key = None
    words = shlex.split(emulator_args)
    for word, following in zip(words, [*words[1:], None], strict=True):
        if word == "--api-key" and following is not None:
            key = following
        elif word.startswith("--api-key="):
            key = word.removeprefix("--api-key=")
    return None if key is None else SecretStr(key)


def on_embedded_emulator(backend: str, base_url: str | None) -> bool:
    """Whether a run on `backend` (`auto` already decided: `flows.backends.backend_name`) at `base_url`
    runs on the embedded emulator: the emulator backend at no base URL of the user's (the emulator's
    own is found apart)."""
    return backend == "emulator" and not base_url
