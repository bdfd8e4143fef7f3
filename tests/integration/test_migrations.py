"""The warehouse schema is migrated in place: a warehouse of an earlier version keeps its rows."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from market_weather.contract import ETL_RUNS
from market_weather.settings import SettingsError
from market_weather.stack.postgres_cluster import PG_SUPERUSER
from market_weather.warehouse.migrate import MIGRATIONS, ensure_reader_login, migrate
from tests.conftest import FIXTURES

ALL_MIGRATIONS = sorted(path.stem for path in Path(MIGRATIONS).glob("*.sql"))


def applied(conn: psycopg.Connection) -> list[str]:
    return [m for (m,) in conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY migration_id")]


def test_the_stack_start_applied_every_migration(pg):
    assert applied(pg) == ALL_MIGRATIONS


@pytest.fixture
def old_warehouse(stack, stack_settings):
    """A database of its own holding the warehouse as the version before migrations made it, with data."""
    name = "warehouse_of_an_earlier_version"
    admin = {"host": str(stack.pg_run), "port": stack_settings.POSTGRES_PORT, "user": PG_SUPERUSER}
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(stack_settings.POSTGRES_USER)
            )
        )
    settings = stack_settings.model_copy(update={"POSTGRES_DB": name})
    with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
        conn.execute((FIXTURES / "warehouse_before_migrations.sql").read_text())
        conn.execute(
            "INSERT INTO assets VALUES ('bitcoin', 'BTC', 'Bitcoin', 1, 19800000, 21000000, NULL, now());"
            "INSERT INTO etl_runs (run_id, job, status, watermark_to) VALUES ('old-run', 'lake_to_warehouse',"
            " 'success', '2026-01-01T00:00:00Z')"
        )
    yield settings
    with psycopg.connect(**admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_warehouse_of_an_earlier_version_is_upgraded_and_keeps_its_rows(old_warehouse):
    with psycopg.connect(**old_warehouse.postgres_conninfo) as conn:
        columns = [
            c
            for (c,) in conn.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'etl_runs'")
        ]
    assert "tail_docs" not in columns, "the earlier version predates etl_runs.tail_docs"

    assert migrate(old_warehouse) == ALL_MIGRATIONS
    assert migrate(old_warehouse) == [], "a second run has nothing to apply"

    with psycopg.connect(**old_warehouse.postgres_conninfo) as conn:
        assert applied(conn) == ALL_MIGRATIONS
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'etl_runs' ORDER BY ordinal_position"
        ).fetchall()
        assert tuple(c for (c,) in columns) == ETL_RUNS.columns
        assert conn.execute("SELECT asset_id, symbol FROM assets").fetchall() == [("bitcoin", "BTC")]
        assert conn.execute("SELECT run_id, status, tail_docs FROM etl_runs").fetchall() == [
            ("old-run", "success", None)
        ]


def test_every_table_view_and_column_of_the_warehouse_says_what_it_holds(pg):
    """What pgAdmin shows beside each object: yoyo's own bookkeeping tables aside."""
    uncommented = pg.execute(
        """
        SELECT c.relname, a.attname
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
         WHERE c.relkind IN ('r', 'v') AND c.relname NOT LIKE '%yoyo%'
           AND col_description(c.oid, a.attnum) IS NULL
        UNION ALL
        SELECT c.relname, NULL
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
         WHERE c.relkind IN ('r', 'v') AND c.relname NOT LIKE '%yoyo%' AND obj_description(c.oid, 'pg_class') IS NULL
        """
    ).fetchall()
    assert uncommented == []
    tables = pg.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
        " WHERE c.relkind IN ('r', 'v') AND c.relname NOT LIKE '%yoyo%'"
    ).fetchone()[0]
    assert tables == 11, "8 tables and 3 views, each checked above"


def test_the_read_only_login_gets_the_password_of_the_settings_at_every_migration(settings):
    changed = settings.model_copy(update={"DASHBOARD_DB_PASSWORD": SecretStr("a-new-reader-password")})
    migrate(changed)
    try:
        with psycopg.connect(**changed.reader_conninfo) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (settings.DASHBOARD_DB_USER,)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(**settings.reader_conninfo)
    finally:
        migrate(settings)


def test_the_owner_or_a_mighty_role_is_never_made_the_reader(stack, settings):
    with pytest.raises(SettingsError, match="DASHBOARD_DB_USER must differ from POSTGRES_USER"):
        ensure_reader_login(settings.model_copy(update={"DASHBOARD_DB_USER": settings.POSTGRES_USER}))
    admin = {"host": str(stack.pg_run), "port": settings.POSTGRES_PORT, "user": PG_SUPERUSER, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS mighty")
        conn.execute("CREATE ROLE mighty LOGIN CREATEDB")
        try:
            with pytest.raises(SettingsError, match="'mighty' exists with rights beyond reading"):
                ensure_reader_login(settings.model_copy(update={"DASHBOARD_DB_USER": "mighty"}))
            member = conn.execute("SELECT pg_has_role('mighty', 'warehouse_reader', 'MEMBER')").fetchone()
            assert member == (False,)
        finally:
            conn.execute("DROP ROLE mighty")
