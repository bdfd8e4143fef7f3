"""The data contract module says what the warehouse SQL and the lake indexes really are."""

from __future__ import annotations

import pytest

from market_weather.contract import (
    DEAD_LETTERS,
    FETCHED_AT,
    RAW_COLLECTIONS,
    RAW_UNIQUE_KEY,
    WAREHOUSE_TABLES,
    Table,
)


@pytest.mark.parametrize("table", WAREHOUSE_TABLES, ids=lambda t: t.name)
def test_each_warehouse_table_has_the_contracts_columns_and_key(pg, table: Table):
    columns = pg.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
        [table.name],
    ).fetchall()
    key = pg.execute(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        [table.name],
    ).fetchall()
    assert tuple(c for (c,) in columns) == table.columns
    assert tuple(k for (k,) in key) == table.key


def test_the_lake_is_unique_on_the_contracts_key_and_indexed_for_incremental_reads(lake):
    for name in RAW_COLLECTIONS:
        indexes = {tuple(ix["key"]): ix.get("unique", False) for ix in lake[name].list_indexes()}
        assert indexes[RAW_UNIQUE_KEY] is True, name
        assert (FETCHED_AT,) in indexes, name
        assert ("_id", FETCHED_AT) in indexes, f"{name}: the job's reads in write order"
    assert (FETCHED_AT,) in {tuple(ix["key"]) for ix in lake[DEAD_LETTERS].list_indexes()}
