"""Files that carry secrets: readable by their owner only, from the first byte written."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, never readable by others even for a moment.

    Also what libpq asks of a pgpass file, which it ignores when others can read it.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have been created with a wider mode
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
