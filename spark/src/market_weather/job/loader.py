"""The job's load: the output frames into the run's staging tables by COPY, then one merge transaction.

Each frame reaches the job as Arrow batches, streamed from Spark as its partitions finish (never the whole window
in memory), and each batch goes to PostgreSQL as CSV through `COPY … FROM STDIN` on the job's own connection.
That replaces one JDBC connection per partition and table, batched INSERTs, and the per-row conversions of both.
"""

from __future__ import annotations

import io
import math
import queue
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from market_weather.job import connect
from market_weather.lake import chunks
from market_weather.settings import Settings
from market_weather.warehouse import merge

# Arrow batches a frame's fetching thread holds ahead of the COPY that takes them (a server's are 4 MB at most).
PREFETCH_BATCHES = 4
# A Spark Connect server hands a query's rows to its client through its driver, which holds every partition that
# finished before the client took it: a large load's tables are fetched in parts of about this many rows, so the
# driver holds a part of each at most, whatever the window (about 30 MB of asset_prices as Arrow).
PART_ROWS = 200_000
_END = object()
# Rows per Arrow table built from an in-process Spark's rows (a Spark Connect server sends its own batches).
LOCAL_BATCH_ROWS = 20_000
# Strings are always quoted, so an empty string stays one; an unquoted empty field is NULL in PostgreSQL's CSV.
CSV_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")


def arrow_batches(df: DataFrame) -> Iterator[pa.Table]:
    """`df`'s rows as Arrow tables, as they arrive: a Spark Connect server's own Arrow batches, or an in-process
    Spark's rows, a partition at a time, as text gathered into tables."""
    session: Any = df.sparkSession
    if connect.is_remote(session):
        client = session.client
        plan: Any = df._plan  # what DataFrame.toLocalIterator streams, before it makes rows of it
        for item in client.to_table_as_iterator(plan.to_proto(client), plan.observations):
            if isinstance(item, pa.Table) and item.num_rows:
                yield item
        return
    # An in-process Spark hands timestamps to Python in the machine's time zone: Spark writes every value as
    # text instead, a timestamp with its offset.
    as_text = [
        F.date_format(F.col(f.name), "yyyy-MM-dd HH:mm:ss.SSSSSSXXX").alias(f.name)
        if isinstance(f.dataType, TimestampType)
        else F.col(f.name).cast("string").alias(f.name)
        for f in df.schema.fields
    ]
    text = pa.schema([(name, pa.string()) for name in df.columns])
    for rows in chunks(df.select(*as_text).toLocalIterator(), LOCAL_BATCH_ROWS):
        yield pa.Table.from_pylist([row.asDict() for row in rows], schema=text)


def copy_staging(conn: psycopg.Connection, df: DataFrame, table: str, batches: Iterable[pa.Table] | None = None) -> int:
    """Copy `df` (or the `batches` already streaming from it) into the staging table `schema.table`, its columns
    by name; the rows copied."""
    schema, name = table.split(".", 1)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(schema, name), sql.SQL(", ").join(map(sql.Identifier, df.columns))
    )
    copied = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for batch in arrow_batches(df) if batches is None else batches:
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, CSV_OPTIONS)
            copy.write(buffer.getbuffer())
            copied += batch.num_rows
    return copied


def in_parts(df: DataFrame, parts: int) -> list[DataFrame]:
    """`df` as `parts` frames that together hold each of its rows once, split by the hash of the whole row."""
    if parts < 2:
        return [df]
    bucket = F.pmod(F.hash(*df.columns), F.lit(parts))
    return [df.where(bucket == part) for part in range(parts)]


@contextmanager
def kept(tables: dict[str, DataFrame], keep: bool) -> Iterator[dict[str, DataFrame]]:
    """The tables, persisted on the executors (in memory, else on disk) while the block runs when `keep`: a table
    fetched in parts is computed once rather than once a part."""
    if not keep:
        yield tables
        return
    persisted = {name: df.persist(StorageLevel.MEMORY_AND_DISK) for name, df in tables.items()}
    try:
        yield persisted
    except BaseException as exc:
        # A server that went away is not asked (it cannot answer, and the next load clears its cache).
        if not connect.unavailable(exc):
            for df in persisted.values():
                with suppress(Exception):
                    df.unpersist()
        raise
    for df in persisted.values():
        df.unpersist()


class Prefetched:
    """Every frame's Arrow batches, fetched from Spark at once (a thread each, its parts one after the other, a few
    batches ahead), while the job copies them into PostgreSQL one table after the other: a small load waits for
    Spark's slowest frame rather than for the sum of them all, and memory holds at most PREFETCH_BATCHES per frame."""

    def __init__(self, frames: dict[str, list[DataFrame]]) -> None:
        self._queues: dict[str, queue.Queue] = {name: queue.Queue(PREFETCH_BATCHES) for name in frames}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._fetch, args=(parts, self._queues[name]), daemon=True, name=f"fetch {name}")
            for name, parts in frames.items()
        ]
        for thread in self._threads:
            thread.start()

    def _fetch(self, parts: list[DataFrame], out: queue.Queue) -> None:
        try:
            for batch in (batch for df in parts for batch in arrow_batches(df)):
                while not self._stop.is_set():
                    try:
                        out.put(batch, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            out.put(_END)
        except BaseException as exc:
            out.put(exc)

    def batches(self, name: str) -> Iterator[pa.Table]:
        while (item := self._queues[name].get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop fetching (a failed load): each thread ends at its next batch."""
        self._stop.set()
        for q in self._queues.values():
            while not q.empty():
                q.get_nowait()


def load(
    conn: psycopg.Connection,
    settings: Settings,
    run_id: str,
    tables: dict[str, DataFrame],
    watermark_to: datetime,
    rows_read: int,
    rows_rejected: int,
) -> merge.MergeResult:
    """Stage every table, then merge them and record the run's success with its watermark, all or nothing.

    A window of more than PART_ROWS documents is fetched in parts of about PART_ROWS rows, its tables kept on
    the executors meanwhile."""
    parts = math.ceil(rows_read / PART_ROWS)
    with merge.staging_tables(conn, run_id) as staged, kept(tables, keep=parts > 1) as tables:
        fetching = Prefetched({name: in_parts(df, parts) for name, df in tables.items()})
        try:
            for name, df in tables.items():
                copy_staging(conn, df, staged[name], fetching.batches(name))
        finally:
            fetching.close()
        return merge.merge_and_commit(
            conn, run_id, staged, watermark_to, rows_read, rows_rejected, settings.OPENWEATHER_LOCATIONS
        )
