"""The dashboard's SQL statements: one file each in `sql/`, every file loaded by name in data.py and every
name loaded a file, each headed by a short comment (read as text, no services)."""

from __future__ import annotations

import ast
import re

from market_weather.settings import PROJECT_ROOT

DASHBOARD = PROJECT_ROOT / "dashboard" / "src" / "market_weather" / "dashboard"
STATEMENTS = {path.stem: path.read_text() for path in (DASHBOARD / "sql").glob("*.sql")}


def loaded_names() -> set[str]:
    """The names data.py passes to `load(...)`; a name that is not a plain string would escape this check."""
    names = set()
    for node in ast.walk(ast.parse((DASHBOARD / "data.py").read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load":
            (argument,) = node.args
            assert isinstance(argument, ast.Constant) and isinstance(argument.value, str), ast.unparse(node)
            names.add(argument.value)
    return names


def test_every_statement_file_is_loaded_and_every_name_loaded_is_a_file():
    assert STATEMENTS, "no statements found"
    assert loaded_names() == set(STATEMENTS)


def test_each_statement_starts_with_a_header_of_one_to_three_lines_that_psycopg_reads_as_text():
    for name, text in STATEMENTS.items():
        header = [line for line in text.splitlines()[:4] if line.startswith("--")]
        assert 1 <= len(header) <= 3 and text.startswith("--"), f"{name}.sql: a header of one to three lines"
        # psycopg reads a % anywhere as a parameter, and .format() a brace as a placeholder, comments too.
        assert not re.search(r"[%{}]", "".join(header)), f"{name}.sql: no % or braces in the header"


def test_no_sql_is_built_from_text_in_the_dashboard_code():
    source = (DASHBOARD / "data.py").read_text()
    assert not re.search(r"\b(SELECT|FROM|WHERE)\b", source), "a statement belongs in sql/"
