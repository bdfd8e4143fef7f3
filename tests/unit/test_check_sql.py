"""The warehouse checks run their SQL from `sql/checks/`, and every `.sql` file of the warehouse package is
loaded by some code (no services: a connection that records what it is given)."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from psycopg import sql

from market_weather.contract import DEAD_LETTERS
from market_weather.settings import QualitySettings
from market_weather.warehouse import quality

PACKAGE = Path(quality.__file__).parent
SQL_DIR = PACKAGE / "sql"
THRESHOLDS = QualitySettings.model_construct()
LOADED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

# What each check runs: the file under sql/, and the identifiers filling its placeholders.
RUNS = {
    "ohlc_invariants": {("checks/ohlc_invariants", ())},
    "ohlc_hour_points": {("checks/ohlc_hour_points", ())},
    "m1_gaps": {("checks/m1_gaps", ())},
    "freshness_coincap": {("checks/freshness", ("asset_prices",))},
    "freshness_weather": {("checks/freshness", ("weather_observations",))},
    "freshness_air": {("checks/freshness", ("air_quality",))},
    "lake_consistency": {
        ("checks/lake_consistency_latest_load", ()),
        ("checks/lake_consistency", ("asset_prices", "asset_id")),
        ("checks/lake_consistency", ("weather_observations", "location_id")),
        ("checks/lake_consistency", ("air_quality", "location_id")),
    },
    "runs_zombie": {("checks/runs_zombie", ())},
    "runs_overlap": {("checks/runs_overlap", ())},
}


# What lake_consistency is told: a load that read something, and none of its documents missing.
ANSWERS: dict[str, list[tuple]] = {"watermark_from": [("r1", None, LOADED)], "unnest(": [(0,)]}


class Recorder:
    """A connection that keeps each statement it is given, rendered, and answers with `rows` (or ANSWERS)."""

    def __init__(self, rows: list[tuple] | None = None):
        self.statements: list[str] = []
        self.rows = rows or []
        self._answer: list[tuple] = []

    def execute(self, query: sql.Composable, params: Any = None) -> Recorder:
        statement = query.as_string()
        self.statements.append(statement)
        self._answer = next((rows for part, rows in ANSWERS.items() if part in statement), self.rows)
        return self

    def fetchall(self) -> list[tuple]:
        return self._answer

    def fetchone(self) -> tuple | None:
        return self._answer[0] if self._answer else None


class Collection:
    def __init__(self, docs: list[dict]):
        self.docs = docs

    def find(self, *args: Any, **kwargs: Any) -> list[dict]:
        return self.docs


class Lake(dict):
    """Each raw collection holds one document of the load's window; nothing is dead-lettered."""

    def __missing__(self, name: str) -> Collection:
        if name == DEAD_LETTERS:
            return Collection([])
        return Collection([{"_id": ObjectId.from_datetime(LOADED), "entity_id": "e1", "observed_at": LOADED}])


def templates() -> dict[str, re.Pattern[str]]:
    """Each .sql file under sql/ by its load name, as a pattern its rendered statements match: a `{name}`
    placeholder stands for one quoted identifier."""
    patterns = {}
    for path in sorted(SQL_DIR.rglob("*.sql")):
        parts = re.split(r"\{\w+\}", path.read_text())
        patterns[path.relative_to(SQL_DIR).with_suffix("").as_posix()] = re.compile(
            r'"(\w+)"'.join(map(re.escape, parts))
        )
    return patterns


def source_of(statement: str) -> tuple[str, tuple[str, ...]]:
    for name, pattern in templates().items():
        if match := pattern.fullmatch(statement):
            return name, match.groups()
    raise AssertionError(f"a statement not from any file under sql/: {statement}")


def test_every_check_is_in_the_table_of_what_it_runs():
    assert [check.__name__ for check in quality.checks(THRESHOLDS)] == list(RUNS)


@pytest.mark.parametrize("check", quality.checks(THRESHOLDS), ids=lambda check: check.__name__)
def test_each_check_runs_its_sql_file_with_its_identifiers(check):
    conn = Recorder()

    check(quality.Context(conn, Lake(), THRESHOLDS))  # type: ignore[arg-type]

    assert {source_of(statement) for statement in conn.statements} == RUNS[check.__name__]


def test_broken_ohlc_buckets_are_counted_all_and_named_three():
    # Rows as the statement returns them: the three latest broken buckets, each with the count of all.
    bucket = datetime(2026, 5, 1, 11, 0, tzinfo=UTC)
    conn = Recorder([("bitcoin", "1h", bucket, 7), ("ethereum", "1m", bucket, 7), ("solana", "1d", bucket, 7)])

    result = quality.ohlc_invariants(quality.Context(conn, Lake(), THRESHOLDS))  # type: ignore[arg-type]

    assert (result.status, result.observed) == ("fail", 7)
    assert result.detail == "e.g. bitcoin 1h 2026-05-01 11:00, ethereum 1m 2026-05-01 11:00, solana 1d 2026-05-01 11:00"


def loaded_names() -> set[str]:
    """The names every `load("...")` in the warehouse package's code passes."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "load":
                name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                assert isinstance(name, str), f"{path.name}:{node.lineno}: load a file by its name"
                names.add(name)
    return names


def test_every_sql_file_is_loaded_by_some_code_and_every_load_has_its_file():
    assert loaded_names() == set(templates())


def test_no_sql_is_built_with_python_string_formatting():
    """Where a table or column varies, the .sql file holds a placeholder filled with sql.Identifier."""
    statement = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b.*\b(FROM|VALUES|SET|WHERE)\b", re.DOTALL)
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                text = "".join(str(part.value) for part in node.values if isinstance(part, ast.Constant))
                assert not statement.search(text), f"{path.name}:{node.lineno}: SQL in an f-string"
