"""The drop folder: files that appear in INBOX_DIR, taken in as uploads are, then moved out of the way.

Airflow's `intake_inbox` DAG waits for a file there (a deferrable sensor: the triggerer looks, no worker slot is
held) and then calls `take_all`. A file still being written is left for the next look: a name that starts with a
dot or ends in `.part` (rename it when it is complete), or one changed within the last INBOX_SETTLE_SECONDS. Each
file taken is moved to `archive/` (its rows landed, or its content taken before), or to `rejected/` with a
`<name>.reason.txt` beside it saying why; either way `files` records it. A name already in the folder it moves to
gets the time it was moved added.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pymongo.database import Database

from market_weather.intake import accept
from market_weather.intake.formats import Refused
from market_weather.settings import IntakeSettings
from market_weather.text import printable
from market_weather.times import utc_now

ARCHIVE = "archive"
REJECTED = "rejected"
# A file changed this recently may still be growing: it waits for the next look.
INBOX_SETTLE_SECONDS = 2.0
PARTIAL_SUFFIX = ".part"
# A `.part` file not written to for this long was abandoned: it is moved to `rejected/`, saying so (else the sensor,
# which sees it, would start a run every few seconds for ever).
ABANDONED_SECONDS = 3600.0
log = logging.getLogger("market_weather.intake.inbox")


@dataclass(frozen=True)
class Taken:
    """What became of one dropped file: `in_lake`, `duplicate` or `rejected`, its file id, where it went."""

    name: str
    outcome: str
    file_id: str | None
    moved_to: Path
    message: str = ""

    def as_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "file_id": self.file_id,
            "moved_to": str(self.moved_to),
            "message": self.message,
        }


@dataclass
class Looked:
    """The inbox at one look: the files ready to take (oldest first), how many are still being written, and the
    `.part` files abandoned."""

    ready: list[Path]
    writing: int
    abandoned: list[Path]


def look(inbox: Path, now: float | None = None, settle: float = INBOX_SETTLE_SECONDS) -> Looked:
    now = time.time() if now is None else now
    ready: list[tuple[float, Path]] = []
    found = Looked([], 0, [])
    for entry in os.scandir(inbox) if inbox.is_dir() else ():
        if not entry.is_file(follow_symlinks=False) or entry.name.startswith("."):
            continue
        modified = entry.stat(follow_symlinks=False).st_mtime
        if entry.name.endswith(PARTIAL_SUFFIX):
            if now - modified > ABANDONED_SECONDS:
                found.abandoned.append(Path(entry.path))
            else:
                found.writing += 1
        elif now - modified < settle:
            found.writing += 1
        else:
            ready.append((modified, Path(entry.path)))
    found.ready = [path for _, path in sorted(ready)]
    return found


def _move(path: Path, folder: Path) -> Path:
    """`path` moved into `folder`, under its name or, when that is taken, its name with the time added."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{path.stem}.{utc_now():%Y%m%dT%H%M%S%f}{path.suffix}"
    shutil.move(path, target)
    return target


def _context(settings: IntakeSettings, db: Database, name: str) -> accept.Context:
    return accept.Context(
        name=name,
        via="inbox",
        assets=tuple(settings.COINCAP_ASSETS),
        locations=tuple(settings.OPENWEATHER_LOCATIONS),
        symbols=accept.known_symbols(db, settings.COINCAP_ASSETS),
    )


def take_one(db: Database, settings: IntakeSettings, path: Path) -> Taken:
    """Take one dropped file in and move it out of the inbox."""
    inbox = path.parent
    context = _context(settings, db, path.name)
    stored: accept.Stored | None = None
    try:
        with path.open("rb") as handle:
            stored = accept.receive(handle, settings.FILES_DIR, settings.FILE_MAX_BYTES)
        record = accept.admit(db, stored, context, settings.FILE_MAX_BYTES)
    except accept.Duplicate as duplicate:
        first = duplicate.first["_id"]
        moved = _move(path, inbox / ARCHIVE)
        return Taken(path.name, "duplicate", first, moved, f"the same content was taken before, as {first}")
    except Refused as refused:
        size, sha = (stored.size, stored.sha256) if stored else (path.stat().st_size, None)
        return _reject(db, path, context, refused, size, sha)
    done = accept.land(db, stored, context, settings.FILE_MAX_BYTES, record)
    moved = _move(path, inbox / ARCHIVE)
    counts = done["counts"]
    message = (
        f"{counts['in_lake']} rows landed, {counts['dead_lettered']} dead-lettered, {counts['duplicates']} duplicates"
    )
    return Taken(path.name, "in_lake", done["_id"], moved, message)


def _reject(db: Database, path: Path, context: accept.Context, refused: Refused, size: int, sha: str | None) -> Taken:
    """`path` recorded as rejected and moved to `rejected/`, with why beside it."""
    message = f"{refused.status}: {refused.message}"
    recorded = accept.record_rejected(db, context, refused, size, sha)
    moved = _move(path, path.parent / REJECTED)
    moved.with_name(moved.name + ".reason.txt").write_text(
        f"{printable(path.name, 200)} was rejected at {utc_now():%Y-%m-%d %H:%M:%S} UTC ({recorded['_id']}):\n"
        f"{message}\n",
        encoding="utf-8",
    )
    return Taken(path.name, "rejected", recorded["_id"], moved, message)


def take_all(db: Database, settings: IntakeSettings, now: datetime | None = None) -> list[Taken]:
    """Every file ready in INBOX_DIR, taken in one after the other."""
    accept.ensure_file_indexes(db)
    found = look(settings.INBOX_DIR, now.timestamp() if now else None)
    if found.writing:
        log.info("%d file(s) still being written are left for the next look", found.writing)
    taken = []
    for path in found.abandoned:
        hours = ABANDONED_SECONDS / 3600
        why = Refused(400, f"a partial file ({PARTIAL_SUFFIX}) not written to for {hours:g} h: rename it when complete")
        taken.append(_reject(db, path, _context(settings, db, path.name), why, path.stat().st_size, None))
    for path in found.ready:
        outcome = take_one(db, settings, path)
        log.info("%s: %s (%s) %s", outcome.name, outcome.outcome, outcome.file_id, outcome.message)
        taken.append(outcome)
    return taken
