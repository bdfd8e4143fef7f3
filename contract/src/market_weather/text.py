"""Text from outside (API payloads, error messages) made safe to store in the lake and to show on a page."""

from __future__ import annotations


def printable(text: str, limit: int = 200) -> str:
    """`text` safe to store and show: unpaired surrogates and control characters escaped, cut at `limit`."""
    if not text.isprintable():
        text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "..."
