"""Whether a key can be sent at all (a line break cannot go in a header), asked before a run starts of the
key a backend sends (`llm.credentials`) and of each key an endpoints file names by its variable
(`settings.secret_from_env`).

    unsendable_key(key, "OPENAI_API_KEY")   # None, or why, in one line that never shows the key

Apart from `settings`, which reads keys from the environment: this checks a key wherever it came from,
pure, with the one message both places give.
"""

from __future__ import annotations

__all__ = ["unsendable_key"]


def unsendable_key(key: str, variable: str) -> str | None:
    """Why `key` (read from `variable`) cannot be sent in a request's header, in one line that never
    shows it, else None. A key pasted from a file keeps its line break, which no HTTP client will put in
    a header: every create of the run failed on it, each row as a crash of rowrelay's."""
    bad = next((char for char in key if ord(char) < 32 or ord(char) == 127), None)
    if bad is None:
        return None
    if bad in "\r\n":
        return (
            f"{variable} holds a line break, which cannot be sent in a request's header (a key pasted from "
            "a file keeps its newline): set it to the key alone"
        )
    return (
        f"{variable} holds a control character ({ord(bad):#04x}), which no key holds: set it to the key alone"
    )
