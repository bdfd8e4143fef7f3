"""The warehouse's SQL statements, one per file in `sql/`, loaded by name: `load("etl_runs_start")` is
`sql/etl_runs_start.sql`; a warehouse check's, `load("checks/m1_gaps")`, is in `sql/checks/`.

Values go in as `%(name)s` parameters; a `{name}` in a statement is an identifier (a staging table, the
table a check reads) filled with `.format()` and `sql.Identifier`, never with Python's string formatting.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from psycopg import sql


@cache
def load(name: str) -> sql.SQL:
    return sql.SQL(files("market_weather.warehouse").joinpath("sql", f"{name}.sql").read_text())
