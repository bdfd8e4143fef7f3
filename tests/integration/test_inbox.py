"""The drop folder's task on the real lake (the inbox DAG's `take_files`; the DAG itself runs in the platform
test): files ready are taken and moved to archive/, refused ones to rejected/ with their reason beside them, and a
file still being written is left where it is."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from market_weather.intake import inbox

FIXTURES = Path(__file__).parent.parent / "fixtures" / "files"


@pytest.fixture
def drop(settings, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return settings.model_copy(update={"INBOX_DIR": folder, "FILES_DIR": tmp_path / "files"})


def settled(path: Path, seconds_ago: float = 10) -> Path:
    """`path` as if written `seconds_ago`."""
    moment = time.time() - seconds_ago
    os.utime(path, (moment, moment))
    return path


def test_ready_files_are_taken_and_moved_out_and_files_being_written_wait(drop, lake):
    folder = drop.INBOX_DIR
    (folder / "btc-usd-max.csv").write_bytes((FIXTURES / "btc-usd-max.csv").read_bytes())
    (folder / "notes.txt").write_text("not a format")
    (folder / "eth-usd-max.csv.part").write_bytes(b"snapped_at,price\n")
    (folder / ".btc-usd-max.csv.tmp").write_bytes(b"snapped_at,price\n")
    for name in ("btc-usd-max.csv", "notes.txt", "eth-usd-max.csv.part", ".btc-usd-max.csv.tmp"):
        settled(folder / name)
    (folder / "paris.csv").write_bytes((FIXTURES / "open-meteo-paris-hourly.csv").read_bytes())  # just written

    taken = {t.name: t for t in inbox.take_all(lake, drop)}

    assert sorted(taken) == ["btc-usd-max.csv", "notes.txt"]
    landed = taken["btc-usd-max.csv"]
    assert landed.outcome == "in_lake" and landed.moved_to == folder / "archive" / "btc-usd-max.csv"
    assert lake.files.find_one({"_id": landed.file_id})["via"] == "inbox"
    assert lake.coingecko_history.count_documents({"run_id": landed.file_id}) == 6
    refused = taken["notes.txt"]
    assert refused.outcome == "rejected" and refused.moved_to == folder / "rejected" / "notes.txt"
    reason = (folder / "rejected" / "notes.txt.reason.txt").read_text()
    assert refused.file_id and "415" in reason and refused.file_id in reason
    assert lake.files.find_one({"_id": refused.file_id})["status"] == "rejected"
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == [
        ".btc-usd-max.csv.tmp",
        "eth-usd-max.csv.part",
        "paris.csv",
    ], "what is still being written stays"

    settled(folder / "paris.csv")
    again = inbox.take_all(lake, drop)
    assert [(t.name, t.outcome) for t in again] == [("paris.csv", "in_lake")]


def test_the_same_content_dropped_again_is_archived_naming_the_first_and_a_same_name_is_kept_apart(drop, lake):
    folder = drop.INBOX_DIR
    content = (FIXTURES / "btc-usd-max.csv").read_bytes()
    (folder / "btc-usd-max.csv").write_bytes(content)
    settled(folder / "btc-usd-max.csv")
    (first,) = inbox.take_all(lake, drop)
    (folder / "btc-usd-max.csv").write_bytes(content)
    settled(folder / "btc-usd-max.csv")
    (second,) = inbox.take_all(lake, drop)
    assert second.outcome == "duplicate" and second.file_id == first.file_id
    assert first.file_id and first.file_id in second.message
    archived = sorted(p.name for p in (folder / "archive").iterdir())
    assert len(archived) == 2 and "btc-usd-max.csv" in archived, "the second kept beside the first, renamed"
    assert lake.files.count_documents({}) == 1


def test_a_partial_file_abandoned_for_an_hour_is_rejected_saying_so(drop, lake):
    partial = drop.INBOX_DIR / "btc-usd-max.csv.part"
    partial.write_bytes(b"snapped_at,price\n2013")
    settled(partial, seconds_ago=inbox.ABANDONED_SECONDS + 60)
    (taken,) = inbox.take_all(lake, drop)
    assert taken.outcome == "rejected" and "rename it when complete" in taken.message
    assert (drop.INBOX_DIR / "rejected" / "btc-usd-max.csv.part.reason.txt").exists()
