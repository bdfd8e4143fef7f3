"""The warehouse SQL the job generates or loads, rendered without a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg import sql

from market_weather.warehouse import merge, queries, staging

SQL_DIR = Path(merge.__file__).with_name("sql")


def spec(name: str) -> merge.TableSpec:
    return next(s for s in merge.TABLES if s.name == name)


def test_the_price_upsert_keeps_stored_values_where_a_history_point_has_none_and_an_api_row_wins():
    statement = merge._merge_statement(spec("asset_prices"), "staging.asset_prices__r1").as_string()
    values = ("price_usd", "market_cap_usd", "volume_usd_24h", "change_percent_24h", "vwap_24h", "supply")
    updated = (*values, "from_file")

    def new(c: str) -> str:
        kept = f'COALESCE(EXCLUDED."{c}", t."{c}")'
        return f'CASE WHEN t.from_file AND NOT EXCLUDED.from_file THEN EXCLUDED."{c}" ELSE {kept} END'

    assert statement == (
        'INSERT INTO "asset_prices" AS t ("asset_id", "observed_at", '
        + ", ".join(f'"{c}"' for c in updated)
        + ') SELECT "asset_id", "observed_at", '
        + ", ".join(f'trim_scale("{c}")' for c in values)
        + ', "from_file" FROM "staging"."asset_prices__r1" ON CONFLICT ("asset_id", "observed_at") DO UPDATE SET '
        + ", ".join(f'"{c}" = {new(c)}' for c in updated)
        + " WHERE ("
        + ", ".join(f't."{c}"' for c in updated)
        + ") IS DISTINCT FROM ("
        + ", ".join(new(c) for c in updated)
        + ") AND (t.from_file OR NOT EXCLUDED.from_file)"
    )


def test_an_asset_is_replaced_only_by_a_newer_snapshot():
    statement = merge._merge_statement(spec("assets"), "staging.assets__r1").as_string()
    assert statement == (
        'INSERT INTO "assets" AS t ("asset_id", "symbol", "name", "rank", "supply", "max_supply", "explorer", '
        '"updated_at") SELECT "asset_id", "symbol", "name", "rank", trim_scale("supply"), trim_scale("max_supply"), '
        '"explorer", "updated_at" FROM "staging"."assets__r1" ON CONFLICT ("asset_id") DO UPDATE SET '
        '"symbol" = EXCLUDED."symbol", "name" = EXCLUDED."name", "rank" = EXCLUDED."rank", '
        '"supply" = EXCLUDED."supply", "max_supply" = EXCLUDED."max_supply", "explorer" = EXCLUDED."explorer", '
        '"updated_at" = EXCLUDED."updated_at" '
        'WHERE (t."symbol", t."name", t."rank", t."supply", t."max_supply", t."explorer", t."updated_at") '
        'IS DISTINCT FROM (EXCLUDED."symbol", EXCLUDED."name", EXCLUDED."rank", EXCLUDED."supply", '
        'EXCLUDED."max_supply", EXCLUDED."explorer", EXCLUDED."updated_at") '
        'AND t."updated_at" <= EXCLUDED."updated_at"'
    )


def test_the_merge_writes_every_staged_table_in_the_order_they_are_staged():
    assert tuple(spec.table for spec in merge.TABLES) == staging.TABLES


@pytest.mark.parametrize(
    "name", sorted(p.relative_to(SQL_DIR).with_suffix("").as_posix() for p in SQL_DIR.rglob("*.sql"))
)
def test_each_sql_file_is_one_statement_that_renders(name):
    statement = queries.load(name).format(
        staged_air=merge._identifier("staging.air"),
        staged_weather=merge._identifier("staging.weather"),
        staged_prices=merge._identifier("staging.prices"),
        table=sql.Identifier("asset_prices"),
        key=sql.Identifier("asset_id"),
    )
    code = [line for line in statement.as_string().splitlines() if not line.lstrip().startswith("--")]
    assert code and not any(";" in line for line in code), "one statement per file"
    assert not any("{" in line for line in code), "every identifier filled"
