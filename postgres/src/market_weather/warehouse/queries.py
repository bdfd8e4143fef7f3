"""The warehouse's SQL statements, one per file in `sql/`, loaded by name.

Values go in as `%(name)s` parameters; a `{name}` in a statement is an identifier (a staging table)
filled with `.format()`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from psycopg import sql


@cache
def load(name: str) -> sql.SQL:
    return sql.SQL(files("market_weather.warehouse").joinpath("sql", f"{name}.sql").read_text())
