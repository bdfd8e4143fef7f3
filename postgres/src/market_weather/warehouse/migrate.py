"""`python -m market_weather.warehouse.migrate`: bring the warehouse schema up to date.

The schema is a series of forward-only, numbered `.sql` migrations in `migrations/`, applied in
order by yoyo, which records each one in its `_yoyo_migration` table and holds a lock while it
works. One code path for both modes: the local stack runs it at every start, compose's airflow-init
before Airflow starts. A warehouse created by an earlier version is upgraded in place, with its data.
Then the read-only login (DASHBOARD_DB_USER) is given its password and made a member of the
`warehouse_reader` role a migration created.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from psycopg import sql
from yoyo import read_migrations
from yoyo.backends import DatabaseBackend, get_backend_class
from yoyo.connections import DatabaseURI

from market_weather.settings import SettingsError, WarehouseSettings, get_settings

MIGRATIONS = Path(__file__).with_name("migrations")
READER_ROLE = "warehouse_reader"


def _backend(settings: WarehouseSettings) -> DatabaseBackend:
    # Built from its parts, so the password is never written into a URL.
    uri = DatabaseURI(
        "postgresql+psycopg",
        settings.POSTGRES_USER,
        settings.POSTGRES_PASSWORD.get_secret_value(),
        settings.POSTGRES_HOST,
        settings.POSTGRES_PORT,
        settings.POSTGRES_DB,
        {},
    )
    backend = get_backend_class(uri.scheme)(uri, "_yoyo_migration")
    backend.init_database()
    return backend


def migrate(settings: WarehouseSettings) -> list[str]:
    """Apply, in order, the migrations the warehouse has not had; the ids of those applied."""
    backend = _backend(settings)
    try:
        with backend.lock():
            pending = backend.to_apply(read_migrations(str(MIGRATIONS)))
            backend.apply_migrations(pending)
    finally:
        backend.connection.close()
    ensure_reader_login(settings)
    return [migration.id for migration in pending]


def ensure_reader_login(settings: WarehouseSettings) -> None:
    """The read-only login, with the password of the settings, a member of READER_ROLE; its sessions
    are read-only by default as well, in case a grant is ever too wide. A role of that name with more
    rights than reading (the owner itself, say) is refused, not turned into a reader."""
    name = settings.DASHBOARD_DB_USER
    if name == settings.POSTGRES_USER:
        raise SettingsError("DASHBOARD_DB_USER must differ from POSTGRES_USER: it names the read-only login")
    login = sql.Identifier(name)
    password = sql.Literal(settings.DASHBOARD_DB_PASSWORD.get_secret_value())
    with psycopg.connect(**settings.postgres_conninfo, autocommit=True, application_name="migrate") as conn:
        role = conn.execute(
            "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls FROM pg_roles "
            "WHERE rolname = %s",
            [name],
        ).fetchone()
        if role is None:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT PASSWORD {}").format(
                    login, password
                )
            )
        elif role[0]:
            raise SettingsError(
                f"DASHBOARD_DB_USER: the role {name!r} exists with rights beyond reading; choose another name"
            )
        else:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(login, password))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(READER_ROLE), login))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(login))


def main() -> int:
    try:
        applied = migrate(get_settings(WarehouseSettings))
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("warehouse schema: " + (f"applied {', '.join(applied)}" if applied else "up to date"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
