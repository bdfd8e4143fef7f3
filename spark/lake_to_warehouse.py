"""Spark job: what is new in the lake -> cleaned, typed, deduplicated -> merged into the warehouse.

read: documents fetched after the last successful watermark minus a look-back, up to the newest
      `fetched_at` seen at the start of the run, with explicit schemas;
transform: spark.transforms;
write: staging tables over JDBC, then one transaction merges them, recomputes the touched OHLC
       buckets and records the run with its new watermark.

Run it as `python -m spark.lake_to_warehouse` or through spark-submit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from bson import ObjectId
from pymongo import DESCENDING, MongoClient
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from common.settings import Settings, SettingsError, get_settings
from producer.ingest import new_run_id
from producer.lake import DEAD_LETTERS, RAW_COLLECTIONS, LakeWriter, chunks
from spark import transforms as T
from spark import warehouse
from spark.schemas import CORRUPT_RECORD, RAW_SCHEMAS

log = logging.getLogger("lake_to_warehouse")
DEAD_LETTER_BATCH = 5_000
# Up to this many documents a collection is read as one partition. Splitting it would cost the
# connector collection statistics and a count over the whole collection on every run.
SINGLE_PARTITION_MAX_DOCS = 100_000
PARTITIONERS = "com.mongodb.spark.sql.connector.read.partitioner."
# The idle check counts the look-back per collection up to here: beyond it (a bulk backfill fetched
# within minutes) counting costs more than it tells, and late writes there are not looked for.
TAIL_COUNT_MAX = 200_000


@dataclass
class RunSummary:
    run_id: str
    status: str
    watermark_from: str | None
    watermark_to: str | None
    rows_read: int = 0
    rows_written: int = 0
    rows_rejected: int = 0
    per_table: dict[str, int] = field(default_factory=dict)


def spark_session(settings: Settings, app_name: str = "lake_to_warehouse", **conf: str) -> SparkSession:
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    # Under spark-submit (the scheduler's way) master and jars come from the submission.
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        builder = builder.master(settings.SPARK_MASTER)
        jars = sorted(Path(settings.SPARK_JARS_DIR).glob("*.jar"))
        if jars:
            builder = builder.config("spark.jars", ",".join(str(j) for j in jars))
    return builder.getOrCreate()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _as_utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=timezone.utc) if moment and moment.tzinfo is None else moment


def newest_fetched_at(db, after: datetime | None = None) -> datetime | None:
    """The newest `fetched_at` in the raw collections, looking only past `after` when given.

    Bounding the index range keeps an idle check cheap however large the lake grows.
    """
    query = {"fetched_at": {"$gt": after}} if after else {}
    newest = None
    for name in RAW_COLLECTIONS:
        doc = db[name].find_one(query, {"fetched_at": 1}, sort=[("fetched_at", DESCENDING)])
        if doc and (newest is None or _as_utc(doc["fetched_at"]) > newest):
            newest = _as_utc(doc["fetched_at"])
    return newest


def _fetched_window(lo: datetime | None, hi: datetime) -> dict:
    window: dict = {"$lte": hi}
    if lo is not None:
        window["$gt"] = lo
    return {"fetched_at": window}


def count_fetched(db, lo: datetime | None, hi: datetime, limit: int = 0) -> dict[str, int]:
    """Raw documents per collection with `fetched_at` in (lo, hi], counted on the index (at most `limit`)."""
    options = {"limit": limit} if limit else {}
    return {name: db[name].count_documents(_fetched_window(lo, hi), **options) for name in RAW_COLLECTIONS}


def connector_uri(mongo_uri: str) -> str:
    """MONGO_URI for the Spark connector's Java driver, with server monitoring by polling.

    Under concurrent reads the lake server (SecantusDB) answers the driver's streaming `hello` on the
    wrong requests ("responseTo ... does not match the requestId"); polling avoids the streaming
    protocol, costs a batch job nothing, and works the same against MongoDB.
    """
    parts = urlsplit(mongo_uri)
    query = dict(parse_qsl(parts.query))
    query.setdefault("serverMonitoringMode", "poll")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))


def read_collection(
    spark: SparkSession, settings: Settings, name: str, lo: datetime | None, hi: datetime, docs: int
) -> DataFrame:
    """Documents of one collection fetched in (lo, hi]; `docs` is how many (or a floor of it)."""
    def bson_date(moment: datetime) -> dict:
        return {"$date": {"$numberLong": str(int(moment.timestamp() * 1000))}}

    window = {"$lte": bson_date(hi)}
    if lo is not None:
        window["$gt"] = bson_date(lo)
    return (
        spark.read.format("mongodb")
        .option("connection.uri", connector_uri(settings.MONGO_URI))
        .option("database", settings.MONGO_DB)
        .option("collection", name)
        .option("partitioner", PARTITIONERS + (
            "SinglePartitionPartitioner" if docs <= SINGLE_PARTITION_MAX_DOCS
            # Partitions of ~64 MB; it also copes with empty collections, which sampling does not.
            else "PaginateBySizePartitioner"))
        .option("aggregation.pipeline", json.dumps([{"$match": {"fetched_at": window}}]))
        # A document with a field of the wrong type is kept whole in CORRUPT_RECORD and rejected with
        # a reason; the default (FAILFAST) would fail every run on it, for as long as it is in the lake.
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .schema(RAW_SCHEMAS[name])
        .load()
    )


def write_staging(df: DataFrame, table: str, settings: Settings) -> None:
    (
        df.write.format("jdbc")
        .option("url", settings.jdbc_url + "?reWriteBatchedInserts=true")
        .option("dbtable", table)
        .option("user", settings.POSTGRES_USER)
        .option("password", settings.POSTGRES_PASSWORD.get_secret_value())
        .option("driver", "org.postgresql.Driver")
        .option("batchsize", 10_000)
        .mode("append")
        .save()
    )


def dead_letter_rejected(db, rejected: Iterable, run_id: str) -> None:
    """Copy each rejected lake document to dead_letters once, with the reason it failed.

    Streams the rejects in batches, so a run with millions of them neither loses any nor holds
    them all in the driver.
    """
    writer = LakeWriter(db)
    for batch in chunks(rejected, DEAD_LETTER_BATCH):
        _dead_letter_batch(db, writer, batch, run_id)


def _dead_letter_batch(db, writer: LakeWriter, rejected: list, run_id: str) -> None:
    by_collection: dict[str, dict[str, str]] = {}
    for row in rejected:
        by_collection.setdefault(row["collection"], {})[row["_id"]] = row["reason"]
    letters = []
    for collection, reasons in by_collection.items():
        ids = [ObjectId(i) if ObjectId.is_valid(i) else i for i in reasons]
        for doc in db[collection].find({"_id": {"$in": ids}}):
            letters.append({
                "_id": f"{warehouse.JOB}:{collection}:{doc['_id']}",
                "source": doc.get("source"),
                "endpoint": doc.get("endpoint"),
                "fetched_at": doc.get("fetched_at"),
                "run_id": run_id,
                "reason": f"{warehouse.JOB}: {reasons[str(doc['_id'])]}",
                "payload": doc.get("payload"),
                "lake_collection": collection,
                "lake_id": doc["_id"],
            })
    writer.insert(DEAD_LETTERS, letters)


def run(spark: SparkSession | None = None, settings: Settings | None = None, run_id: str | None = None) -> RunSummary:
    settings = settings or get_settings()
    run_id = run_id or new_run_id(warehouse.JOB)
    with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn, MongoClient(settings.MONGO_URI) as mongo:
        if not warehouse.try_lock(conn):
            raise RuntimeError("another lake_to_warehouse run holds the lock; try again when it has finished")
        db = mongo[settings.MONGO_DB]
        lookback = timedelta(minutes=settings.ETL_LOOKBACK_MINUTES)
        watermark = warehouse.last_watermark(conn)
        newest = newest_fetched_at(db, after=watermark)
        tail_docs = None
        if newest is None and watermark is not None:
            # Nothing fetched since, but something fetched before the last cut-off may have been written
            # after that run looked: then the look-back window holds more than it did, and is read again.
            tail_docs = sum(count_fetched(db, watermark - lookback, watermark, limit=TAIL_COUNT_MAX).values())
            if tail_docs != warehouse.last_tail_docs(conn, watermark):
                newest = watermark
        if newest is None:
            warehouse.record_idle(conn, run_id, watermark)
            return RunSummary(run_id, "success", _iso(watermark), _iso(watermark))

        lo = watermark - lookback if watermark else None
        # Counted before reading (once: a re-read of the look-back has just counted it): a document
        # written after this count shows up in the next idle check.
        if tail_docs is None:
            tail_docs = sum(count_fetched(db, newest - lookback, newest, limit=TAIL_COUNT_MAX).values())
        docs = count_fetched(db, lo, newest, limit=SINGLE_PARTITION_MAX_DOCS + 1)
        warehouse.record_start(conn, run_id, watermark, tail_docs)
        own_session = spark is None
        staged: dict[str, str] = {}
        cached: list[DataFrame] = []
        try:
            spark = spark or spark_session(settings)  # inside: a Spark that fails to start is a failed run
            raw = {}
            for name in RAW_COLLECTIONS:
                raw[name] = read_collection(spark, settings, name, lo, newest, docs[name]).persist(StorageLevel.MEMORY_AND_DISK)
                cached.append(raw[name])
            rows_read = sum(df.count() for df in raw.values())

            snapshots = T.coincap_asset_rows(raw["coincap_assets"])
            history = T.coincap_history_rows(raw["coincap_history"])
            weather = T.weather_rows(raw["openweather_weather"])
            air = T.air_rows(raw["openweather_air"])
            typed = {"coincap_assets": snapshots, "coincap_history": history,
                     "openweather_weather": weather, "openweather_air": air}
            rejected_df = None
            for name, rows in typed.items():
                part = T.rejected(rows, name)
                rejected_df = part if rejected_df is None else rejected_df.unionByName(part)
            rows_rejected = rejected_df.count()
            if rows_rejected:
                dead_letter_rejected(db, rejected_df.toLocalIterator(), run_id)

            snapshots, history, weather, air = (T.valid(df) for df in (snapshots, history, weather, air))
            outputs = {
                "assets": T.assets(snapshots),
                "asset_prices": T.asset_prices(snapshots, history),
                "locations": T.locations(weather),
                "weather_observations": T.weather_observations(weather),
                "air_quality": T.air_quality(air),
            }
            staged = warehouse.create_staging(conn, run_id)
            for table, df in outputs.items():
                write_staging(df, staged[table], settings)
            result = warehouse.merge_and_commit(
                conn, run_id, staged, newest, rows_read, rows_rejected, settings.OPENWEATHER_LOCATIONS
            )
        except Exception as exc:
            warehouse.record_failure(conn, run_id, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            for df in cached:
                df.unpersist()
            if staged:
                warehouse.drop_staging(conn, run_id)
            if own_session and spark is not None:
                spark.stop()
        return RunSummary(
            run_id, "success", _iso(watermark), _iso(newest), rows_read, result.rows_written, rows_rejected,
            result.per_table,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-id", help="id recorded in etl_runs (default: generated)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        summary = run(run_id=args.run_id)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        log.error("run failed: %s: %s", type(exc).__name__, exc)
        return 1
    print(json.dumps(asdict(summary), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
