"""Taking a file in: kept by its content's hash, checked whole, its rows landed in the lake, its status in `files`.

`receive` copies an upload (or a dropped file) into the store as it streams, hashing it and refusing it (413) the
moment it passes the limit, so a file too large never fills the disk. `take` then reads the stored file twice:
once whole, to refuse (nothing stored) a file that cannot be read to its end (its encoding, binary content, a gzip
that inflates past the limit, a header without its columns, an asset or location it does not name), and once to
land its rows: each valid row a lake document (a row whose key the APIs' rows already hold counts as a duplicate
and is not landed: a file never overrides an API), each bad row a dead letter with the file's id and its line.
The same content twice is taken once: the second time names the first file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from market_weather.contract import (
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    COINGECKO_HISTORY,
    FILES,
    OPEN_METEO_WEATHER,
    OPENWEATHER_WEATHER,
)
from market_weather.intake import rows
from market_weather.intake.formats import Format, Line, Opened, Refused, open_file
from market_weather.lake import Batch, LakeWriter, ensure_lake_indexes
from market_weather.producer.simulated import KNOWN_ASSETS
from market_weather.settings import Location
from market_weather.text import printable
from market_weather.times import as_utc, utc_now

BATCH_ROWS = 5_000
FIRST_ERRORS = 20
COPY_CHUNK = 1024 * 1024
# The APIs' collections whose rows a file's row may not override, by the file collection it would land in.
API_KEYS = {
    COINGECKO_HISTORY: (COINCAP_HISTORY, COINCAP_ASSETS),
    OPEN_METEO_WEATHER: (OPENWEATHER_WEATHER,),
}


@dataclass(frozen=True)
class Stored:
    """A file in the store: its content's SHA-256, its size, where it is."""

    sha256: str
    size: int
    path: Path


@dataclass(frozen=True)
class Context:
    """What a file is taken with: its name as given (shown, never a path), how it came, the form's asset or
    location, and what the platform is configured for."""

    name: str
    via: str  # "upload" or "inbox"
    assets: tuple[str, ...]
    locations: tuple[Location, ...]
    symbols: dict[str, str] = field(default_factory=dict)  # upper-case symbol -> configured asset
    asset: str | None = None
    location: str | None = None


@dataclass
class Counts:
    rows: int = 0
    valid: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    in_lake: int = 0
    loaded: int = 0


def ensure_file_indexes(db: Database) -> None:
    """`files` by content hash and by status; the lake's collections with their indexes."""
    # One document per content: two uploads of the same file at the same time record it once (a file refused before
    # it was read to its end has no hash).
    db[FILES].create_index([("sha256", ASCENDING)], name="sha256", unique=True, sparse=True)
    db[FILES].create_index([("status", ASCENDING)], name="status")
    ensure_lake_indexes(db)


class Receiver:
    """A file being copied into the store as it arrives, a chunk at a time (an upload's parts, a dropped file's
    reads): hashed as it goes, refused (413) the moment it passes `limit`, its partial copy removed unless it ends
    as a Stored file."""

    def __init__(self, store: Path, limit: int) -> None:
        self.store, self.limit = store, limit
        incoming = store / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        self.partial = incoming / f"{uuid.uuid4().hex}.part"
        self._out: IO[bytes] | None = self.partial.open("wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes | memoryview) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise Refused(413, f"the file is larger than FILE_MAX_BYTES ({self.limit:,} bytes)")
        self._digest.update(chunk)
        assert self._out is not None
        self._out.write(chunk)

    def finish(self) -> Stored:
        """The file, stored under its SHA-256; 400 when it is empty."""
        try:
            assert self._out is not None
            self._out.close()
            self._out = None
            if self.size == 0:
                raise Refused(400, "the file is empty")
            sha = self._digest.hexdigest()
            final = self.store / sha[:2] / sha
            final.parent.mkdir(exist_ok=True)
            os.replace(self.partial, final)
            return Stored(sha, self.size, final)
        finally:
            self.abort()

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.partial.unlink(missing_ok=True)


def receive(stream: IO[bytes], store: Path, limit: int) -> Stored:
    """Copy `stream` into `store` under its SHA-256, refusing it (413) once past `limit` bytes and (400) empty."""
    receiver = Receiver(store, limit)
    try:
        while chunk := stream.read(COPY_CHUNK):
            receiver.write(chunk)
        return receiver.finish()
    finally:
        receiver.abort()


# A file whose rows are, or are being, in the lake: the same content again is taken as this one.
TAKEN = ("received", "in_lake", "loaded")


def duplicate_of(db: Database, stored: Stored) -> dict | None:
    """The file taken before with the same content, if any (one refused, or whose taking in failed, does not count:
    the same content may come again, with the form field it lacked or once the lake answers)."""
    return db[FILES].find_one({"sha256": stored.sha256, "status": {"$in": list(TAKEN)}})


def file_id(stored: Stored, received_at: datetime) -> str:
    return f"file-{received_at:%Y%m%dT%H%M%S}-{stored.sha256[:12]}"


@dataclass
class _Plan:
    """How a file's rows become documents, decided from its header before any is landed."""

    opened: Opened
    asset: str | None = None
    location: str | None = None
    columns: rows.WeatherColumns | None = None
    offset: timedelta = timedelta(0)


def _plan(handle: IO[bytes], context: Context, limit: int) -> _Plan:
    opened = open_file(handle, context.name, limit)
    if opened.format is Format.COINGECKO_CSV:
        return _Plan(opened, asset=rows.resolve_asset(context.asset, context.name, context.assets, context.symbols))
    if opened.format is Format.OPEN_METEO_CSV:
        return _Plan(
            opened,
            location=rows.resolve_location(context.location, opened.metadata, list(context.locations)),
            columns=rows.WeatherColumns.of(opened.columns),
            offset=rows.utc_offset(opened.metadata),
        )
    return _Plan(opened, asset=context.asset, location=context.location)


def check_whole(stored: Stored, context: Context, limit: int) -> Format:
    """Read the whole file once, landing nothing: its format, or Refused for what keeps it from being read."""
    with stored.path.open("rb") as handle:
        plan = _plan(handle, context, limit)
        for _ in plan.opened.rows:
            pass
    return plan.opened.format


class Duplicate(Exception):
    """The same content was taken before: `first` is that file's document."""

    def __init__(self, first: dict) -> None:
        super().__init__(f"the same content was taken as {first['_id']}")
        self.first = first


def admit(db: Database, stored: Stored, context: Context, limit: int, received_at: datetime | None = None) -> dict:
    """Check a stored file whole and record it in `files` as `received`: its document. Refused, with nothing recorded
    and the stored file removed, when it cannot be read to its end; Duplicate when its content was taken before (at
    the same time too: `files` holds one document per content)."""
    first = duplicate_of(db, stored)
    if first is not None:
        raise Duplicate(first)
    try:
        fmt = check_whole(stored, context, limit)
    except Refused:
        stored.path.unlink(missing_ok=True)  # a file refused is not kept
        raise
    received_at = received_at or utc_now()
    record = {
        "_id": file_id(stored, received_at),
        "name": printable(context.name, 200),
        "size": stored.size,
        "sha256": stored.sha256,
        "format": str(fmt),
        "via": context.via,
        "asset": context.asset,
        "location": context.location,
        "received_at": received_at,
        "finished_at": None,
        "status": "received",
        "counts": vars(Counts()),
        "errors": [],
    }
    # The same content refused or failed before: this file takes its place.
    db[FILES].delete_many({"sha256": stored.sha256, "status": {"$nin": list(TAKEN)}})
    try:
        db[FILES].insert_one(record)
    except DuplicateKeyError:
        first = duplicate_of(db, stored)
        if first is None:
            raise
        raise Duplicate(first) from None
    return record


def land(db: Database, stored: Stored, context: Context, limit: int, record: dict) -> dict:
    """Land the rows of a file `admit` recorded, and its status `in_lake` with its counts (`failed`, with why, when
    the landing breaks off): its document."""
    envelope = rows.FileEnvelope(record["_id"], Format(record["format"]), record["received_at"])
    try:
        counts, errors = _land(db, stored, context, limit, envelope)
    except Exception as exc:
        reason = printable(f"{type(exc).__name__}: {exc}", 500)
        failed = {"status": "failed", "finished_at": utc_now(), "errors": [reason]}
        db[FILES].update_one({"_id": record["_id"]}, {"$set": failed})
        raise
    done = {"status": "in_lake", "finished_at": utc_now(), "counts": vars(counts), "errors": errors}
    db[FILES].update_one({"_id": record["_id"]}, {"$set": done})
    return record | done


def take(db: Database, stored: Stored, context: Context, limit: int, received_at: datetime | None = None) -> dict:
    """`admit` then `land`: the file's document (`in_lake`), or the first file's when the same content was taken
    before."""
    try:
        record = admit(db, stored, context, limit, received_at)
    except Duplicate as duplicate:
        return duplicate.first
    return land(db, stored, context, limit, record)


def record_rejected(db: Database, context: Context, refused: Refused, size: int, sha256: str | None = None) -> dict:
    """A file refused whole, in `files` (a dropped file: no one saw the answer), with why; without its hash when it
    was refused before it was read to its end (too large, empty)."""
    now = utc_now()
    record = {
        "_id": f"file-{now:%Y%m%dT%H%M%S}-{sha256[:12] if sha256 else uuid.uuid4().hex[:12]}",
        "name": printable(context.name, 200),
        "size": size,
        **({"sha256": sha256} if sha256 else {}),
        "format": None,
        "via": context.via,
        "received_at": now,
        "finished_at": now,
        "status": "rejected",
        "counts": vars(Counts()),
        "errors": [f"{refused.status}: {refused.message}"],
    }
    if sha256:  # the same content refused before: this refusal now
        db[FILES].delete_many({"sha256": sha256, "status": {"$nin": list(TAKEN)}})
    db[FILES].insert_one(record)
    return record


def known_symbols(db: Database, configured: Iterable[str]) -> dict[str, str]:
    """Upper-case symbol -> configured asset: the symbols CoinCap gave the assets (in the lake), over the well-known
    ones; what a CoinGecko export's name (`btc-usd-max.csv`) is matched with."""
    assets = list(configured)
    symbols = {meta[0]: slug for slug, meta in KNOWN_ASSETS.items() if slug in assets}
    for doc in db[COINCAP_ASSETS].find({"entity_id": {"$in": assets}}, {"entity_id": 1, "payload.symbol": 1}):
        symbol = (doc.get("payload") or {}).get("symbol")
        if isinstance(symbol, str) and symbol:
            symbols[symbol.upper()] = doc["entity_id"]
    return symbols


def _land(
    db: Database, stored: Stored, context: Context, limit: int, envelope: rows.FileEnvelope
) -> tuple[Counts, list[str]]:
    counts, errors = Counts(), list[str]()
    writer = LakeWriter(db, batch_size=BATCH_ROWS)
    pending: dict[str, list[dict]] = {}
    letters: list[dict] = []

    def flush(collection: str) -> None:
        documents = pending.pop(collection, [])
        if collection in API_KEYS:
            documents = _not_in_apis(db, collection, documents, counts)
        written = writer.insert(collection, documents)
        counts.in_lake += written.inserted
        counts.duplicates += written.duplicates
        counts.dead_lettered += written.dead_lettered

    def letter(dead: dict) -> None:
        letters.append(dead)
        counts.dead_lettered += 1
        if len(errors) < FIRST_ERRORS:
            errors.append(dead["reason"])
        if len(letters) >= BATCH_ROWS:
            writer.dead_letter(letters)
            letters.clear()

    with stored.path.open("rb") as handle:
        plan = _plan(handle, context, limit)
        for line in plan.opened.rows:
            counts.rows += 1
            for collection, made in _documents(plan, envelope, context, line, letter):
                counts.valid += 1
                pending.setdefault(collection, []).append(made)
                if len(pending[collection]) >= BATCH_ROWS:
                    flush(collection)
    for collection in list(pending):
        flush(collection)
    if letters:
        writer.dead_letter(letters)
    return counts, errors


def _documents(
    plan: _Plan, envelope: rows.FileEnvelope, context: Context, line: Line, letter: Callable[[dict], None]
) -> Iterator[tuple[str, dict]]:
    """The lake documents of one row, by collection; each dead letter it makes goes to `letter`."""
    fmt = plan.opened.format
    try:
        if fmt is Format.COINGECKO_CSV:
            assert plan.asset is not None
            yield COINGECKO_HISTORY, rows.coingecko_document(envelope, plan.asset, line)
            return
        if fmt is Format.OPEN_METEO_CSV:
            assert plan.location is not None and plan.columns is not None
            made = rows.open_meteo_document(envelope, plan.location, plan.offset, plan.columns, line)
            yield OPEN_METEO_WEATHER, made
            return
    except rows.RowError as exc:
        letter(envelope.dead_letter(line.number, str(exc), line.fields))
        return
    batch: Batch = rows.json_line_batch(envelope, line, plan.asset, plan.location, list(context.locations))
    for dead in batch.dead_letters:
        letter(dead)
    for document in batch.documents:
        yield batch.collection, document


def _not_in_apis(db: Database, collection: str, documents: list[dict], counts: Counts) -> list[dict]:
    """`documents` less those whose key (entity, time) an API's row holds already: counted as duplicates."""
    if not documents:
        return documents
    entities = sorted({d["entity_id"] for d in documents})
    times = sorted({d["observed_at"] for d in documents})
    held: set[tuple[str, datetime]] = set()
    for api in API_KEYS[collection]:
        query = {"entity_id": {"$in": entities}, "observed_at": {"$gte": times[0], "$lte": times[-1]}}
        found = db[api].find(query, {"entity_id": 1, "observed_at": 1})
        held.update((d["entity_id"], as_utc(d["observed_at"])) for d in found)
    kept = [d for d in documents if (d["entity_id"], as_utc(d["observed_at"])) not in held]
    counts.duplicates += len(documents) - len(kept)
    return kept
