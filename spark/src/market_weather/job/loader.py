"""The job's load: the output frames into the run's staging tables over JDBC, then one merge transaction."""

from __future__ import annotations

from datetime import datetime

import psycopg
from pyspark.sql import DataFrame

from market_weather.settings import Settings
from market_weather.warehouse import merge

# pgjdbc (42.7.13 and later) rewrites a batch into multi-row INSERTs of up to this many rows, in
# power-of-two blocks: a power-of-two batch is sent as one statement.
JDBC_BATCH_ROWS = 32_768


def write_staging(df: DataFrame, table: str, settings: Settings) -> None:
    (
        df.write.format("jdbc")
        .option("url", settings.jdbc_url + "?reWriteBatchedInserts=true")
        .option("dbtable", table)
        .option("user", settings.POSTGRES_USER)
        .option("password", settings.POSTGRES_PASSWORD.get_secret_value())
        .option("driver", "org.postgresql.Driver")
        .option("batchsize", JDBC_BATCH_ROWS)
        .mode("append")
        .save()
    )


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
            write_staging(df, staged[name], settings)
        return merge.merge_and_commit(
            conn, run_id, staged, watermark_to, rows_read, rows_rejected, settings.OPENWEATHER_LOCATIONS
        )
