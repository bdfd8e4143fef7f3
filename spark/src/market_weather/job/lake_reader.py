"""The job's side of the lake: what was written there, the windowed Spark read, and dead letters for rejects.

Windows are on the time each document was written, [lo, hi): the time of its ObjectId `_id`, which
the producer's driver stamps as it writes. They walk the lake's write-order index (`lake.WRITE_ORDER_INDEX`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bson import ObjectId
from pymongo.database import Database
from pyspark.sql import DataFrame, Row, SparkSession

from market_weather.contract import (
    DEAD_LETTERS,
    FETCHED_AT,
    FILE_COLLECTIONS,
    FILE_SOURCE,
    LOADED_COLLECTIONS,
    RAW_COLLECTIONS,
)
from market_weather.job.schemas import CORRUPT_RECORD, RAW_SCHEMAS
from market_weather.lake import LakeWriter, chunks
from market_weather.settings import Settings
from market_weather.times import as_utc
from market_weather.warehouse.runs import JOB

DEAD_LETTER_BATCH = 5_000
# Each collection's window is read as one partition, with no planning: the connector's other
# partitioners ask the server for collection statistics and counts over the whole collection first,
# which on the lake server costs more than the read of a large backfill (and then often settles on one
# partition anyway). Spark spreads the work again at the transforms' first shuffle.
PARTITIONER = "com.mongodb.spark.sql.connector.read.partitioner.SinglePartitionPartitioner"
# The longest the connector awaits one answer of the lake's (a batch of a read): far above any the lake takes, it
# only ends a wait on a lake that stopped answering.
LAKE_READ_TIMEOUT_S = 300
# The late-write window is counted up to here: beyond it (a bulk write in the seconds before a run)
# counting costs more than it tells, and late writes there are not looked for.
LATE_COUNT_MAX = 200_000
# The first slice `written_since` probes back from a run's cut-off; and the earliest time an ObjectId holds.
PROBE_FIRST_SLICE = timedelta(seconds=2)
OBJECT_ID_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _written(lo: datetime | None, hi: datetime) -> dict:
    """The filter of documents written in [lo, hi), on `_id`."""
    window: dict = {"$lt": ObjectId.from_datetime(hi)}
    if lo is not None:
        window["$gte"] = ObjectId.from_datetime(lo)
    return {"_id": window}


def written_since(db: Database, lo: datetime | None, hi: datetime) -> bool:
    """Whether any raw document was written in [lo, hi).

    The lake server answers a probe of an `_id` range at the cost of every document in the range, even for the
    first one (about a second per 400,000 documents), so [lo, hi) is probed from hi back in slices that double
    (PROBE_FIRST_SLICE, then twice as long, ...): the newest document is found at the cost of the slice that holds
    it, which a load soon after the writes keeps small, and a stretch with nothing written costs a few probes that
    find nothing."""
    end, floor, width = as_utc(hi), as_utc(lo or OBJECT_ID_EPOCH), PROBE_FIRST_SLICE
    while end > floor:
        start = max(floor, end - width)
        if any(db[name].find_one(_written(start, end), {"_id": 1}) is not None for name in LOADED_COLLECTIONS):
            return True
        end, width = start, width * 2
    return False


def count_written(db: Database, lo: datetime | None, hi: datetime, limit: int = 0) -> dict[str, int]:
    """Documents per collection the job loads written in [lo, hi), counted on the write-order index (at most
    `limit`)."""
    options: dict[str, Any] = {"limit": limit} if limit else {}
    return {name: db[name].count_documents(_written(lo, hi), **options) for name in LOADED_COLLECTIONS}


def count_late_window(db: Database, lo: datetime, hi: datetime) -> int:
    """Raw documents written in a late-write window [lo, hi), all collections together."""
    return sum(count_written(db, lo, hi, limit=LATE_COUNT_MAX).values())


def connector_uri(mongo_uri: str) -> str:
    """MONGO_URI for the Spark connector's Java driver: server monitoring by polling, and no answer from the lake
    awaited longer than LAKE_READ_TIMEOUT_S.

    Under concurrent reads the lake server (SecantusDB) answers the driver's streaming `hello` on the
    wrong requests ("responseTo ... does not match the requestId"); polling avoids the streaming
    protocol, costs a batch job nothing, and works the same against MongoDB. A read from a lake that stopped
    answering blocks its thread where no interrupt reaches it (the query's planning on the server's driver, the
    connector closing an idle client): the timeout ends it. The URI is the same for every load, so that the
    connector's cached client serves them all.
    """
    parts = urlsplit(mongo_uri)
    query = dict(parse_qsl(parts.query))
    query.setdefault("serverMonitoringMode", "poll")
    query.setdefault("socketTimeoutMS", str(LAKE_READ_TIMEOUT_S * 1000))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))


def read_collection(spark: SparkSession, settings: Settings, name: str, lo: datetime | None, hi: datetime) -> DataFrame:
    """Documents of one collection written in [lo, hi)."""

    def extended_json(window: dict) -> dict:
        return {op: {"$oid": str(bound)} for op, bound in window.items()}

    return (
        spark.read.format("mongodb")
        .option("connection.uri", connector_uri(settings.MONGO_URI))
        .option("database", settings.MONGO_DB)
        .option("collection", name)
        .option("partitioner", PARTITIONER)
        .option("aggregation.pipeline", json.dumps([{"$match": {"_id": extended_json(_written(lo, hi)["_id"])}}]))
        # A document with a field of the wrong type is kept whole in CORRUPT_RECORD and rejected with
        # a reason; the default (FAILFAST) would fail every run on it, for as long as it is in the lake.
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .schema(RAW_SCHEMAS[name])
        .load()
    )


def read_window(
    spark: SparkSession, settings: Settings, lo: datetime | None, hi: datetime, files: bool = False
) -> dict[str, DataFrame]:
    """Every raw collection's documents written in [lo, hi), by collection name; and the file collections' too when
    `files` (a file is being taken in or waits for its load: the lake holds no file row otherwise).

    Nothing is cached: each of the job's passes reads the window from the lake again, the fields the job reads
    and no more, which costs less than Spark's building a cache of it and keeps the memory of a load flat
    however large its window.
    """
    names = (*RAW_COLLECTIONS, *FILE_COLLECTIONS) if files else RAW_COLLECTIONS
    return {name: read_collection(spark, settings, name, lo, hi) for name in names}


def dead_letter_rejected(db: Database, rejected: DataFrame, run_id: str) -> int:
    """Copy each rejected lake document to dead_letters once, with the reason it failed; how many.

    Streams the rejects in batches, so a run with millions of them neither loses any nor holds
    them all in the driver.
    """
    writer, count = LakeWriter(db), 0
    for batch in chunks(rejected.toLocalIterator(), DEAD_LETTER_BATCH):
        _dead_letter_batch(db, writer, batch, run_id)
        count += len(batch)
    return count


def _from_file(doc: dict) -> dict:
    return {"file_id": doc.get("run_id"), "line": doc.get("line")}


def _dead_letter_batch(db: Database, writer: LakeWriter, rejected: list[Row], run_id: str) -> None:
    by_collection: dict[str, dict[str, str]] = {}
    for row in rejected:
        by_collection.setdefault(row["collection"], {})[row["_id"]] = row["reason"]
    letters = []
    for collection, reasons in by_collection.items():
        ids = [ObjectId(i) if ObjectId.is_valid(i) else i for i in reasons]
        for doc in db[collection].find({"_id": {"$in": ids}}):
            letters.append(
                {
                    # One letter per lake document however often it is re-read: the lake counts the duplicates.
                    "_id": f"{JOB}:{collection}:{doc['_id']}",
                    "source": doc.get("source"),
                    "endpoint": doc.get("endpoint"),
                    "fetched_at": doc.get(FETCHED_AT),
                    "run_id": run_id,
                    "reason": f"{JOB}: {reasons[str(doc['_id'])]}",
                    "payload": doc.get("payload"),
                    "lake_collection": collection,
                    "lake_id": doc["_id"],
                    # A file's row: the file it came from and its line, as the intake's own dead letters say.
                    **(_from_file(doc) if doc.get("source") == FILE_SOURCE else {}),
                }
            )
    writer.insert(DEAD_LETTERS, letters)
