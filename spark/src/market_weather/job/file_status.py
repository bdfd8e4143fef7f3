"""The files the intake took in, as the job sees them: whether a window may hold their rows, and which of them the
warehouse now holds (their status in `files` becomes `loaded`).

A file's rows are written to the lake before its status becomes `in_lake` with its `finished_at`, so once a load
whose cut-off is past that time commits, every row of the file was in a window the warehouse has loaded: the rows
the job took (`counts.loaded`), and those it rejected, dead-lettered with the file's id and their lines.
"""

from __future__ import annotations

from datetime import datetime

from pymongo.database import Database

from market_weather.contract import DEAD_LETTERS, FILES
from market_weather.times import utc_now

# The statuses of a file whose rows the lake may hold and the warehouse not yet.
PENDING = ("received", "in_lake")
# How many of a file's first errors its status shows (the intake's, then the job's).
FIRST_ERRORS = 20


def pending(db: Database, since: datetime | None) -> bool:
    """Whether a window from `since` may hold a file's rows: a file is being taken in or waits for its load, or one
    whose taking in failed part way ended since then (the rows it landed are loaded like any).

    Asked once the window's cut-off is known: a file's document is written before its first row, so a row in the
    window has its file here."""
    failed: dict = {"status": "failed"}
    if since is not None:
        failed["finished_at"] = {"$gte": since}
    either = {"$or": [{"status": {"$in": list(PENDING)}}, failed]}
    return db[FILES].find_one(either, {"_id": 1}) is not None


def mark_loaded(db: Database, before: datetime) -> list[str]:
    """Every file `in_lake` that finished `before` a run's clock (a run whose merge committed, or an idle one: nothing
    was written since the last), as `loaded`, with its counts; their ids."""
    marked = []
    for file in db[FILES].find({"status": "in_lake", "finished_at": {"$lt": before}}, {"counts": 1, "errors": 1}):
        letters = {"file_id": file["_id"], "lake_collection": {"$exists": True}}
        rejected = db[DEAD_LETTERS].count_documents(letters)
        counts = file.get("counts") or {}
        errors = list(file.get("errors") or [])
        if rejected and len(errors) < FIRST_ERRORS:
            first = db[DEAD_LETTERS].find(letters, {"line": 1, "reason": 1}).sort("line", 1).limit(FIRST_ERRORS)
            errors += [f"line {d.get('line')}: {d.get('reason')}" for d in first][: FIRST_ERRORS - len(errors)]
        done = {
            "status": "loaded",
            "loaded_at": utc_now(),
            "counts.loaded": max(int(counts.get("in_lake", 0)) - rejected, 0),
            "counts.dead_lettered": int(counts.get("dead_lettered", 0)) + rejected,
            "errors": errors,
        }
        if db[FILES].update_one({"_id": file["_id"], "status": "in_lake"}, {"$set": done}).modified_count:
            marked.append(file["_id"])
    return marked
