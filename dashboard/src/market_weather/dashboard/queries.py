"""The dashboard's SQL statements, one per file in `sql/`, loaded by name.

Values go in as `%(name)s` parameters; a `{name}` in a statement is a table or column name, filled with
`.format()` and `psycopg.sql.Identifier`. The dashboard reads the warehouse and never imports its writer's
code, so it has this loader of its own.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from psycopg import sql


@cache
def load(name: str) -> sql.SQL:
    return sql.SQL(files("market_weather.dashboard").joinpath("sql", f"{name}.sql").read_text())
