"""The raw data lake's indexes and the one writer that appends to it (the producer's and the job's).

The lake is append-only. Every write is an unordered bulk insert against a unique
(entity_id, observed_at) index, so re-ingesting a response adds nothing and the duplicates are
counted rather than raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from itertools import islice

from pymongo import ASCENDING, InsertOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from market_weather.contract import DEAD_LETTERS, FETCHED_AT, RAW_COLLECTIONS, RAW_UNIQUE_KEY

DUPLICATE_KEY = 11000
WRITE_ORDER_INDEX = "write_order"


def ensure_lake_indexes(db: Database) -> None:
    for name in RAW_COLLECTIONS:
        db[name].create_index([(f, ASCENDING) for f in RAW_UNIQUE_KEY], unique=True, name="entity_observed_unique")
        db[name].create_index([(FETCHED_AT, ASCENDING)], name=FETCHED_AT)
        # The job reads in write order, by `_id` ranges; SecantusDB plans those on this index, not on `_id_`.
        db[name].create_index([("_id", ASCENDING), (FETCHED_AT, ASCENDING)], name=WRITE_ORDER_INDEX)
    db[DEAD_LETTERS].create_index([(FETCHED_AT, ASCENDING)], name=FETCHED_AT)


@dataclass
class WriteCounts:
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Batch:
    """Lake documents for one collection, and the dead letters met while making them."""

    collection: str
    documents: list[dict]
    dead_letters: list[dict]


def chunks(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most `size` items, without holding more than one list."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class LakeWriter:
    def __init__(self, db: Database, batch_size: int = 5000):
        self.db = db
        self.batch_size = batch_size

    def insert(self, collection: str, documents: Iterable[dict]) -> WriteCounts:
        counts = WriteCounts()
        for chunk in chunks(documents, self.batch_size):
            counts.fetched += len(chunk)
            try:
                result = self.db[collection].bulk_write([InsertOne(doc) for doc in chunk], ordered=False)
                counts.inserted += result.inserted_count
            except BulkWriteError as exc:
                errors = exc.details["writeErrors"]
                others = [e for e in errors if e["code"] != DUPLICATE_KEY]
                if others:
                    raise RuntimeError(
                        f"lake write to {collection} failed for {len(others)} documents: {others[0]['errmsg']}"
                    ) from exc
                counts.inserted += exc.details["nInserted"]
                counts.duplicates += len(errors)
        return counts

    def dead_letter(self, dead_letters: list[dict]) -> int:
        if dead_letters:
            self.db[DEAD_LETTERS].insert_many(dead_letters, ordered=False)
        return len(dead_letters)

    def write(self, batch: Batch) -> WriteCounts:
        counts = self.insert(batch.collection, batch.documents)
        counts.dead_lettered = self.dead_letter(batch.dead_letters)
        counts.fetched += counts.dead_lettered
        return counts
