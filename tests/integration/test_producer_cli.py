"""How the producer's CLI fails: a lake that does not answer and bad input are one line each; a bug is a bug.

No services here: the lake is a port where nothing listens.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from market_weather.settings import PROJECT_ROOT
from market_weather.stack.services import free_port
from tests.conftest import run_module

PASSWORD = "lake-s3cret"


@pytest.fixture
def env():
    """The producer's settings only: a lake with credentials where nothing listens, no warehouse password."""
    values = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    return {
        **values,
        "MONGO_URI": f"mongodb://platform:{PASSWORD}@127.0.0.1:{free_port()}/?authSource=admin",
        "PRODUCER_SOURCE": "simulated",
    }


def producer(env, *args: str) -> subprocess.CompletedProcess:
    return run_module(env, "market_weather.producer", *args, timeout=120)


def test_a_lake_that_does_not_answer_is_one_line_naming_mongo_uri(env):
    started = time.monotonic()
    result = producer(env, "fetch", "coincap")
    elapsed = time.monotonic() - started

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: the lake at mongodb://***@127.0.0.1:")
    assert "(MONGO_URI) does not answer" in lines[0] and "make start" in lines[0]
    assert PASSWORD not in result.stdout + result.stderr
    assert elapsed < 20, "within the lake's 10 s server selection timeout"


def test_bad_input_is_refused_before_the_lake_is_tried(env):
    started = time.monotonic()
    result = producer(env, "backfill", "coincap", "--start", "2026-01-01", "--end", "2026-01-02", "--interval", "m2")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: interval must be one of m1, m5, m15, m30, h1, h2, h6, h12, d1, not 'm2'"
    ]
    assert time.monotonic() - started < 8, "no wait for the lake"


def test_a_bug_is_a_plain_traceback_not_a_usage_error(env):
    """A ValueError the producer did not mean as bad input is a bug: exit 1 and Python's own traceback."""
    script = (
        "import sys\n"
        "from market_weather.producer import cli, commands\n"
        "def broken(*args, **kwargs):\n"
        "    raise ValueError('a bug in the producer')\n"
        "commands.fetch = broken\n"
        "sys.argv = ['producer', 'fetch', 'coincap']\n"
        "cli.main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert result.stderr.rstrip().endswith("ValueError: a bug in the producer")
    assert "╭" not in result.stderr, "no rich box"
