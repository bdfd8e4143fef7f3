"""The job's load: the output frames into the run's staging tables by COPY, then one merge transaction.

Each frame reaches the job as Arrow batches, streamed from Spark as its partitions finish (never the whole window
in memory), and each batch goes to PostgreSQL as CSV through `COPY … FROM STDIN` on the job's own connection.
That replaces one JDBC connection per partition and table, batched INSERTs, and the per-row conversions of both.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from market_weather.job import connect
from market_weather.lake import chunks
from market_weather.settings import Settings
from market_weather.warehouse import merge

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


def copy_staging(conn: psycopg.Connection, df: DataFrame, table: str) -> int:
    """Copy `df` into the staging table `schema.table` (its columns by name); the rows copied."""
    schema, name = table.split(".", 1)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        sql.Identifier(schema, name), sql.SQL(", ").join(map(sql.Identifier, df.columns))
    )
    copied = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for batch in arrow_batches(df):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, CSV_OPTIONS)
            copy.write(buffer.getbuffer())
            copied += batch.num_rows
    return copied


def load(
    conn: psycopg.Connection,
    settings: Settings,
    run_id: str,
    tables: dict[str, DataFrame],
    watermark_to: datetime,
    rows_read: int,
    rows_rejected: int,
) -> merge.MergeResult:
    """Stage every table, then merge them and record the run's success with its watermark, all or nothing."""
    with merge.staging_tables(conn, run_id) as staged:
        for name, df in tables.items():
            copy_staging(conn, df, staged[name])
        return merge.merge_and_commit(
            conn, run_id, staged, watermark_to, rows_read, rows_rejected, settings.OPENWEATHER_LOCATIONS
        )
