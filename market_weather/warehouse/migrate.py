"""`python -m market_weather.warehouse.migrate`: bring the warehouse schema up to date.

The schema is a series of forward-only, numbered `.sql` migrations in `migrations/`, applied in
order by yoyo, which records each one in its `_yoyo_migration` table and holds a lock while it
works. One code path for both modes: the local stack runs it at every start, compose's airflow-init
before Airflow starts. A warehouse created by an earlier version is upgraded in place, with its data.
"""

from __future__ import annotations

import sys
from pathlib import Path

from yoyo import read_migrations
from yoyo.backends import DatabaseBackend, get_backend_class
from yoyo.connections import DatabaseURI

from market_weather.settings import SettingsError, WarehouseSettings, get_settings

MIGRATIONS = Path(__file__).with_name("migrations")


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
    return [migration.id for migration in pending]


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
