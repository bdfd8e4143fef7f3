"""How the job talks to the lake, and how it reports a failure (no services)."""

from __future__ import annotations

import logging

import psycopg
import pytest

from market_weather.job import lake_to_warehouse
from market_weather.job.lake_reader import connector_uri
from market_weather.job.spark_conf import application_name
from market_weather.settings import SettingsError
from market_weather.warehouse import runs


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("mongodb://127.0.0.1:27017", "mongodb://127.0.0.1:27017/?serverMonitoringMode=poll&socketTimeoutMS=300000"),
        (
            "mongodb://u:p@mongo:27017/?authSource=admin",
            "mongodb://u:p@mongo:27017/?authSource=admin&serverMonitoringMode=poll&socketTimeoutMS=300000",
        ),
        (
            "mongodb://h/?serverMonitoringMode=stream&socketTimeoutMS=5000",
            "mongodb://h/?serverMonitoringMode=stream&socketTimeoutMS=5000",
        ),
    ],
)
def test_the_connector_polls_server_state_and_awaits_no_answer_for_ever_unless_told_otherwise(uri, expected):
    assert connector_uri(uri) == expected


class Connection:
    """Stands in for a psycopg connection: keeps what it runs, or fails like a dead one."""

    def __init__(self, dead: bool = False):
        self.dead = dead
        self.executed: list[dict] = []

    def execute(self, query, params=None):
        if self.dead:
            raise psycopg.OperationalError("the connection is closed")
        self.executed.append(params)


def test_a_failed_run_is_recorded_with_its_error():
    conn = Connection()
    with pytest.raises(ValueError, match="bad window"):
        with runs.failure_recorded(conn, "r1"):  # type: ignore[arg-type]
            raise ValueError("bad window")
    assert conn.executed == [{"run_id": "r1", "message": "ValueError: bad window"}]


def test_recording_a_failure_on_a_dead_warehouse_does_not_hide_the_error(caplog):
    with pytest.raises(ValueError, match="bad window"):
        with runs.failure_recorded(Connection(dead=True), "r1"):  # type: ignore[arg-type]
            raise ValueError("bad window")
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "could not record run r1 as failed" in record.getMessage()
    assert record.exc_info and record.exc_info[0] is psycopg.OperationalError


def test_the_command_logs_a_failure_with_its_traceback_and_exits_1(monkeypatch, caplog):
    def fail(**_):
        raise RuntimeError("lake unreachable")

    monkeypatch.setattr(lake_to_warehouse, "run", fail)
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)  # keep pytest's capture
    assert lake_to_warehouse.main([]) == 1
    traceback, cause = caplog.records
    assert traceback.exc_info and traceback.exc_info[0] is RuntimeError
    # The cause comes last, on one line: the Spark provider's error shows the tail of the output.
    assert cause.levelname == "ERROR" and cause.getMessage() == "run failed: RuntimeError: lake unreachable"


def test_bad_settings_exit_2_with_a_one_line_message(monkeypatch, capsys):
    def fail(**_):
        raise SettingsError("POSTGRES_PASSWORD: missing")

    monkeypatch.setattr(lake_to_warehouse, "run", fail)
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    assert lake_to_warehouse.main([]) == 2
    assert capsys.readouterr().err == "error: POSTGRES_PASSWORD: missing\n"


def test_a_run_outside_airflow_names_its_spark_application_after_the_run(monkeypatch):
    """`make load` and `make demo` open their own session (`load_session`), named after the run in Spark's UI
    when it is an in-process one, and stop it after the run."""
    started: list[dict] = []

    class Session:
        def stop(self) -> None:
            started.append({"stopped": True})

    def load_session(settings, **kw) -> Session:
        started.append(kw)
        return Session()

    monkeypatch.setattr(lake_to_warehouse, "load_session", load_session)
    with lake_to_warehouse._spark(None, None, "lake_to_warehouse__20261205T083809Z_ab12cd34"):  # type: ignore[arg-type]
        pass
    assert started == [{"title": "lake_to_warehouse / lake_to_warehouse__20261205T083809Z_ab12cd34"}, {"stopped": True}]
    assert application_name("backfill_history", "manual__1") == "lake_to_warehouse / backfill_history / manual__1"
