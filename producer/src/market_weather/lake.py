"""The raw data lake's indexes, what it can hold, and the one writer that appends to it (the producer's and the job's).

The lake is append-only. Every write is an unordered bulk insert against a unique
(entity_id, observed_at) index, so re-ingesting a response adds nothing and the duplicates are
counted rather than raised. A document BSON cannot hold (an integer wider than 64 bits, text with an
unpaired surrogate, more than 16 MiB) becomes a dead letter that says why; the rest of its batch is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any

import bson
from bson import ObjectId
from bson.errors import InvalidDocument
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from market_weather.contract import DEAD_LETTERS, FETCHED_AT, LOADED_COLLECTIONS, RAW_UNIQUE_KEY
from market_weather.text import printable

DUPLICATE_KEY = 11000
WRITE_ORDER_INDEX = "write_order"
# BSON integers are 8 bytes; JSON's are unbounded.
INT64 = range(-(2**63), 2**63)
# MongoDB holds 100 levels of nesting, the envelope included; the APIs' payloads use four.
PAYLOAD_MAX_DEPTH = 64
# MongoDB's document limit.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
# A dead letter keeps at most this much of a payload: enough to see what went wrong.
DEAD_LETTER_PAYLOAD_MAX_BYTES = 1024 * 1024


def ensure_lake_indexes(db: Database) -> None:
    """Every collection the job loads from (the APIs' and the files'), and the dead letters."""
    for name in LOADED_COLLECTIONS:
        ensure_raw_indexes(db[name])
    db[DEAD_LETTERS].create_index([(FETCHED_AT, ASCENDING)], name=FETCHED_AT)
    # A file's status counts its dead letters.
    db[DEAD_LETTERS].create_index([("file_id", ASCENDING), ("line", ASCENDING)], name="file_line")


def ensure_raw_indexes(collection: Collection) -> None:
    """A raw collection's indexes: its unique key, `fetched_at`, and the write order the job reads in."""
    collection.create_index([(f, ASCENDING) for f in RAW_UNIQUE_KEY], unique=True, name="entity_observed_unique")
    collection.create_index([(FETCHED_AT, ASCENDING)], name=FETCHED_AT)
    # The job reads in write order, by `_id` ranges; SecantusDB plans those on this index, not on `_id_`.
    collection.create_index([("_id", ASCENDING), (FETCHED_AT, ASCENDING)], name=WRITE_ORDER_INDEX)


def _at(path: tuple, why: str) -> str:
    shown = ".".join(printable(str(p), 40) for p in path[:6]) + ("..." if len(path) > 6 else "")
    return f"{shown or 'record'}: {why}"


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        if value.isascii():
            return None
        try:
            value.encode()
        except UnicodeEncodeError:
            return "text with an unpaired surrogate, which BSON cannot hold"
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None if value in INT64 else "an integer wider than 64 bits, which BSON cannot hold"
    if value is None or isinstance(value, bool | float):
        return None
    return f"a {type(value).__name__}, which is not a JSON value"


def _bad_name(key: Any) -> bool:
    return not isinstance(key, str) or "\x00" in key or _scalar_problem(key) is not None


def unstorable(value: Any, max_depth: int = PAYLOAD_MAX_DEPTH, where: tuple = ()) -> str | None:
    """Why the lake cannot hold a decoded JSON value as it is, naming a field at fault; None when it can.

    Field paths start at `where`. Walks with a stack of its own, so no nesting makes it recurse.
    """
    if not isinstance(value, dict | list):
        why = _scalar_problem(value)
        return None if why is None else _at(where, why)
    stack: list[tuple[dict | list, tuple, int]] = [(value, where, 1)]
    while stack:
        node, path, depth = stack.pop()
        if depth > max_depth:
            return _at(path, f"nested deeper than {max_depth} levels")
        is_dict = isinstance(node, dict)
        for key, child in node.items() if isinstance(node, dict) else enumerate(node):
            if is_dict and not (type(key) is str and key.isascii() and "\x00" not in key) and _bad_name(key):
                return _at((*path, key), "a field name BSON cannot hold (NUL, an unpaired surrogate, not text)")
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, (*path, key), depth + 1))
            elif not (
                (kind is str and child.isascii()) or (kind is int and child in INT64) or kind is float or child is None
            ):
                why = _scalar_problem(child)
                if why is not None:
                    return _at((*path, key), why)
    return None


def storable(payload: Any) -> Any:
    """A dead letter's payload as the lake can hold it: as it is if it can, else its JSON text, cut to a size."""
    if not isinstance(payload, str):
        if unstorable(payload) is None and len(bson.encode({"payload": payload})) <= DEAD_LETTER_PAYLOAD_MAX_BYTES:
            return payload
        try:
            payload = json.dumps(payload, ensure_ascii=False)
        except (RecursionError, ValueError, TypeError) as exc:  # nested past Python's limit, no JSON value
            payload = f"(payload not kept: {type(exc).__name__})"
    data = payload.encode("utf-8", "backslashreplace")
    if len(data) <= DEAD_LETTER_PAYLOAD_MAX_BYTES:
        return data.decode()
    return data[:DEAD_LETTER_PAYLOAD_MAX_BYTES].decode("utf-8", "ignore") + f"... (cut: {len(data)} bytes in all)"


def _refused(doc: dict, why: str) -> dict:
    """The dead letter of a document BSON cannot hold: its envelope, why, and its payload as the lake can hold it."""
    reason = "; ".join(r for r in (doc.get("reason"), f"lake: {why}") if isinstance(r, str))
    return {
        "source": doc.get("source"),
        "endpoint": doc.get("endpoint"),
        FETCHED_AT: doc.get(FETCHED_AT),
        "run_id": doc.get("run_id"),
        "reason": printable(reason, 2000),
        "payload": storable(doc.get("payload")),
    }


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

    def _encode(self, doc: dict) -> RawBSONDocument | str:
        """The document as BSON, encoded once here so that one the lake cannot hold costs no other; else why not."""
        doc.setdefault("_id", ObjectId())  # as pymongo does, so the caller sees the id
        try:
            raw = bson.encode(doc, codec_options=self.db.codec_options)
        except (InvalidDocument, OverflowError, UnicodeEncodeError, TypeError, ValueError, RecursionError) as exc:
            why = unstorable(doc.get("payload"), max_depth=2**31, where=("payload",))
            return why or printable(f"{type(exc).__name__}: {exc}")
        if len(raw) > MAX_DOCUMENT_BYTES:
            return f"larger than the {MAX_DOCUMENT_BYTES // 2**20} MiB a document can hold"
        return RawBSONDocument(raw)

    def _bulk_insert(self, collection: str, documents: list[RawBSONDocument], counts: WriteCounts) -> None:
        if not documents:
            return
        try:
            self.db[collection].insert_many(documents, ordered=False)
            counts.inserted += len(documents)
        except BulkWriteError as exc:
            errors = exc.details["writeErrors"]
            others = [e for e in errors if e["code"] != DUPLICATE_KEY]
            if others:
                raise RuntimeError(
                    f"lake write to {collection} failed for {len(others)} documents: {others[0]['errmsg']}"
                ) from exc
            counts.inserted += exc.details["nInserted"]
            counts.duplicates += len(errors)

    def insert(self, collection: str, documents: Iterable[dict]) -> WriteCounts:
        """Append documents; a document BSON cannot hold is dead-lettered instead, and counted as such."""
        counts = WriteCounts()
        for chunk in chunks(documents, self.batch_size):
            counts.fetched += len(chunk)
            encoded, refused = [], []
            for doc in chunk:
                raw = self._encode(doc)
                if isinstance(raw, str):
                    refused.append(_refused(doc, raw))
                else:
                    encoded.append(raw)
            self._bulk_insert(collection, encoded, counts)
            letters = []
            for letter in refused:
                raw = self._encode(letter)
                if isinstance(raw, str):
                    raise RuntimeError(f"a dead letter the lake cannot hold: {raw}")
                letters.append(raw)
            self._bulk_insert(DEAD_LETTERS, letters, WriteCounts())
            counts.dead_lettered += len(letters)
        return counts

    def dead_letter(self, dead_letters: list[dict]) -> int:
        self.insert(DEAD_LETTERS, dead_letters)
        return len(dead_letters)

    def write(self, batch: Batch) -> WriteCounts:
        counts = self.insert(batch.collection, batch.documents)
        dead_lettered = self.dead_letter(batch.dead_letters)
        counts.dead_lettered += dead_lettered
        counts.fetched += dead_lettered
        return counts
