"""The loads on Spark's Connect server, for real: each a session of its own that leaves nothing to the next, and
the faults a user meets (a server down, a server killed mid-load, a load that hangs) each ending the load with
one clear line, nothing committed of it, no run left `running`, and a next load that loads it all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import requests
from psycopg import sql
from pyspark import StorageLevel

from market_weather.contract import DATA_TABLES, WAREHOUSE_TABLES
from market_weather.job import connect, lake_to_warehouse
from market_weather.settings import PROJECT_ROOT
from market_weather.stack import lake_server
from market_weather.stack.ports import free_port
from tests.conftest import run_module
from tests.integration.test_pipeline import assert_warehouse_matches_the_lake, fill_lake


def load_env(settings, **overrides) -> dict[str, str]:
    """`make load`'s environment against the test stack, its load on the Spark Connect server."""
    return {**os.environ, **settings.as_environment(), "SPARK_LOAD_SESSION": "connect", **overrides}


def make_load(settings, run_id: str, **overrides) -> subprocess.CompletedProcess:
    """`make load` (`python -m market_weather.job.lake_to_warehouse`): a process of its own, as every load is
    (a process that opened a session on the server builds remote columns from then on)."""
    env = load_env(settings, **{name: str(value) for name, value in overrides.items()})
    return run_module(env, "market_weather.job.lake_to_warehouse", "--run-id", run_id, timeout=300)


def failure_line(result: subprocess.CompletedProcess) -> str:
    """The job's last line on failure, the cause on one line."""
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "run failed: " in last, result.stderr[-3000:]
    return last.split("run failed: ", 1)[1]


def remote(settings):
    """A session on the server opened from this process, without putting it in Spark Connect's mode."""
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    return RemoteSession.builder.remote(connect.url(settings)).create()


def cached_on_server(settings) -> list[dict]:
    """What the server's Spark holds cached (its UI's storage list), for every session at once."""
    ui = f"http://127.0.0.1:{settings.SPARK_CONNECT_UI_PORT}/api/v1/applications"
    (app,) = requests.get(ui, timeout=5).json()
    return requests.get(f"{ui}/{app['id']}/storage/rdd", timeout=5).json()


def run_status(pg, run_id: str) -> tuple[str, str | None]:
    row = pg.execute("SELECT status, message FROM etl_runs WHERE run_id = %s", [run_id]).fetchone()
    return row if row else ("absent", None)


@contextmanager
def load_in_background(settings, run_id: str, **overrides):
    """`make load` started; yields its process, which has ended when the block does."""
    env = load_env(settings, **{name: str(value) for name, value in overrides.items()})
    process = subprocess.Popen(
        [sys.executable, "-m", "market_weather.job.lake_to_warehouse", "--run-id", run_id],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        out, err = process.communicate(timeout=180)
        process.result = subprocess.CompletedProcess(process.args, process.returncode, out, err)  # type: ignore[attr-defined]


def wait_running(pg, run_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while run_status(pg, run_id)[0] != "running":
        assert time.monotonic() < deadline, "the load never started"
        time.sleep(0.02)


def test_each_load_is_a_session_of_its_own_that_leaves_nothing_to_the_next(settings, connect_server, writer, lake, pg):
    # What a load that died would leave: a view, a setting and a cached frame in its session.
    earlier = remote(settings)
    earlier.range(5).createOrReplaceTempView("earlier_load")
    earlier.conf.set("spark.sql.shuffle.partitions", "3")
    earlier.range(1000).persist(StorageLevel.MEMORY_AND_DISK).count()
    assert cached_on_server(settings), "the server holds the earlier session's frame"
    earlier.client.close()  # gone without a word, as a killed task goes

    fill_lake(settings, writer)
    result = make_load(settings, "connect-1")

    assert result.returncode == 0, result.stderr[-3000:]
    assert run_status(pg, "connect-1")[0] == "success"
    assert_warehouse_matches_the_lake(pg, lake)
    assert cached_on_server(settings) == [], "neither the earlier frame nor the load's own are kept"
    later = remote(settings)
    try:
        assert [t.name for t in later.catalog.listTables()] == []
        assert later.conf.get("spark.sql.shuffle.partitions") == "8", "the job's setting, not the earlier session's"
    finally:
        later.stop()


def warehouse_contents(pg) -> dict[str, list[tuple]]:
    return {
        table.name: sorted(pg.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table.name))).fetchall())
        for table in DATA_TABLES
    }


def test_a_load_on_the_server_writes_exactly_what_an_in_process_load_writes(
    settings, connect_server, writer, pg, spark
):
    """The job's code runs unchanged on a remote session: the same lake gives the same warehouse, value for value
    (each through its own way of staging: the server's Arrow batches, or the in-process Spark's rows)."""
    fill_lake(settings, writer)
    lake_to_warehouse.run(spark, settings, run_id="in-process")
    in_process = warehouse_contents(pg)
    assert all(in_process.values()), "every table filled"
    pg.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t.name) for t in WAREHOUSE_TABLES)))

    assert make_load(settings, "on-server").returncode == 0
    assert warehouse_contents(pg) == in_process


def test_make_load_uses_the_server_when_it_answers_and_local_spark_otherwise(settings, connect_server, monkeypatch):
    from market_weather.job import session as sessions

    opened: list[str] = []
    monkeypatch.setattr(sessions.connect, "remote_session", lambda s: opened.append("server"))
    monkeypatch.setattr(sessions, "spark_session", lambda s, **kw: opened.append("local"))
    sessions.load_session(settings, "t")  # auto, the server up
    sessions.load_session(settings.model_copy(update={"SPARK_CONNECT_PORT": free_port()}), "t")  # auto, none
    sessions.load_session(settings.model_copy(update={"SPARK_LOAD_SESSION": "local"}), "t")
    assert opened == ["server", "local", "local"]


def test_a_load_on_a_server_that_does_not_answer_fails_in_seconds_naming_its_port(settings, writer, pg):
    fill_lake(settings, writer)
    port = free_port()
    started = time.monotonic()
    result = make_load(settings, "connect-down", SPARK_CONNECT_PORT=port)
    assert time.monotonic() - started < 30, "seconds, with the job's own start"
    line = failure_line(result)
    assert line == (
        f"SparkServerGone: the Spark Connect server at sc://127.0.0.1:{port} (SPARK_CONNECT_PORT={port}) does not "
        "answer: start it with `make run` (or compose's spark-connect service), or run the load in-process with "
        "SPARK_LOAD_SESSION=local"
    )
    status, recorded = run_status(pg, "connect-down")
    assert status == "failed" and f"SPARK_CONNECT_PORT={port}" in (recorded or "")
    assert pg.execute("SELECT count(*) FROM asset_prices").fetchone()[0] == 0


def test_a_load_whose_server_is_killed_fails_with_one_line_and_the_next_loads_everything(
    settings, connect_server, writer, lake, pg
):
    fill_lake(settings, writer)
    with load_in_background(settings, "connect-killed") as load:
        wait_running(pg, "connect-killed")
        time.sleep(1.5)  # inside the load's Spark work
        assert connect_server.process is not None
        connect_server.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    assert time.monotonic() - killed_at < 30, "it fails in seconds, not after the client's own minutes of retries"
    line = failure_line(load.result)
    assert line.startswith(f"SparkServerGone: the Spark Connect server at {connect.url(settings)}")
    assert "stopped answering during the load; nothing of it was committed" in line
    status, recorded = run_status(pg, "connect-killed")
    assert status == "failed" and "stopped answering" in (recorded or "")
    assert pg.execute("SELECT count(*) FROM asset_prices").fetchone()[0] == 0, "nothing of it committed"

    connect_server.ensure_running()  # the stack's supervisor (or compose's restart policy) does this
    assert make_load(settings, "connect-retried").returncode == 0
    assert_warehouse_matches_the_lake(pg, lake)
    assert pg.execute("SELECT count(*) FROM etl_runs WHERE status = 'running'").fetchone()[0] == 0


def test_a_load_that_hangs_on_the_server_is_interrupted_at_its_timeout(settings, connect_server, stack, writer, pg):
    """The lake stops answering as the load starts to read it: the server's read waits (its driver would for 30 s
    more), and the load is interrupted after LOAD_TIMEOUT_SECONDS, recorded failed while the lake is still
    stopped."""
    fill_lake(settings, writer)
    lake_pid = stack.supervisor.pid("lake")
    with load_in_background(settings, "connect-hung", LOAD_TIMEOUT_SECONDS=10) as load:
        wait_running(pg, "connect-hung")
        os.kill(lake_pid, signal.SIGSTOP)
        stopped_at = time.monotonic()
        try:
            while run_status(pg, "connect-hung")[0] == "running" and time.monotonic() - stopped_at < 60:
                time.sleep(0.1)
            ended_after = time.monotonic() - stopped_at
        finally:
            os.kill(lake_pid, signal.SIGCONT)
    assert failure_line(load.result) == (
        f"SparkServerError: the load ran longer than LOAD_TIMEOUT_SECONDS (10 s) and was interrupted on "
        f"{connect.where(settings)}; nothing of it was committed"
    )
    assert 9 < ended_after < 40
    status, recorded = run_status(pg, "connect-hung")
    assert status == "failed" and "LOAD_TIMEOUT_SECONDS" in (recorded or "")
    lake_server.check(settings, lake_server.chosen(settings))  # the lake answers again
    # The server is free for the next load, which loads everything.
    assert make_load(settings, "connect-after-hang").returncode == 0


def sql_executions(settings) -> int:
    """How many queries the server has run (its UI's SQL list), for every session at once."""
    ui = f"http://127.0.0.1:{settings.SPARK_CONNECT_UI_PORT}/api/v1/applications"
    (app,) = requests.get(ui, timeout=5).json()
    return len(requests.get(f"{ui}/{app['id']}/sql", params={"length": 100_000}, timeout=5).json())


def wait_for_line(path, text: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = [line for line in path.read_text(errors="replace").splitlines() if text in line]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, f"no line with {text!r} in {path}"
        time.sleep(1)


def test_a_started_server_warms_up_on_the_job_s_queries_and_writes_nothing(settings, connect_server, lake, pg):
    # `serve` started the warm-up beside the server when the session's server started.
    line = wait_for_line(connect_server.log_path, "warmed up: ")
    assert f"SPARK_CONNECT_PORT={settings.SPARK_CONNECT_PORT}" in line

    # A warm-up run again, as the server's start runs it: the job's queries reach the server, over a window that
    # holds nothing, and neither the lake nor the warehouse changes.
    before = sql_executions(settings)
    result = run_module(load_env(settings, SPARK_CONNECT_WARM_UP_ROUNDS="2"), "market_weather.job.warm_up")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warmed up: 2 rounds of a load's queries" in result.stderr
    assert sql_executions(settings) - before >= 2 * 6, "each round runs the tally and every table's query"
    assert [name for name in lake.list_collection_names() if lake[name].estimated_document_count()] == []
    assert pg.execute("SELECT count(*) FROM etl_runs").fetchone()[0] == 0
    assert cached_on_server(settings) == []


def test_a_warm_up_that_cannot_read_the_lake_says_so_in_one_line_and_the_server_runs_on(settings, connect_server):
    nowhere = f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=1000"
    result = run_module(
        load_env(settings, MONGO_URI=nowhere, SPARK_CONNECT_WARM_UP_ROUNDS="1"), "market_weather.job.warm_up"
    )
    assert result.returncode == 0, "the server's start does not depend on it"
    (warning,) = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert f"the warm-up of the Spark Connect server at sc://127.0.0.1:{settings.SPARK_CONNECT_PORT}" in warning
    assert "stopped: " in warning
    assert "warmed up" not in result.stderr
    assert connect.check(settings)


def test_a_warm_up_whose_server_stopped_before_answering_ends_at_once(settings):
    gone = subprocess.Popen(["true"])
    gone.wait()
    started = time.monotonic()
    result = run_module(
        load_env(settings, SPARK_CONNECT_PORT=str(free_port())),
        "market_weather.job.warm_up",
        "--server-pid",
        str(gone.pid),
    )
    assert time.monotonic() - started < 30, "not the minutes it waits for a server that is starting"
    assert result.returncode == 0
    assert "did not answer within 300 s or stopped: no warm-up" in result.stderr
