"""The local services as a user drives them: healthy after start, clear errors, clean stop."""

import os
import socket
import subprocess

import pytest
from pydantic import SecretStr
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from market_weather.settings import PROJECT_ROOT, LakeSettings, load_settings
from market_weather.stack import lake_server
from market_weather.stack.errors import StackError
from market_weather.stack.ports import free_port, isolated_settings, on_port
from market_weather.stack.postgres_cluster import PG_SUPERUSER
from market_weather.stack.programs import CORE, PLATFORM
from market_weather.stack.services import LocalStack
from tests.conftest import run_module


def test_started_services_report_healthy(stack):
    statuses = {s.name: s for s in stack.status()}
    assert statuses["postgres"].healthy and "PostgreSQL" in statuses["postgres"].detail
    assert statuses["lake"].healthy and "SecantusDB" in statuses["lake"].detail
    # The status line names the server that runs: the Rust one once setup built it, else the Python one.
    server = lake_server.chosen(stack.settings)
    assert statuses["lake"].detail.startswith(server.name)
    assert stack._programs(["lake"])[0].command[0] == str(server.path)


def pids(stack) -> dict[str, int]:
    return {p["name"]: p["pid"] for p in stack._supervisor().supervisor.getAllProcessInfo()}


def test_starting_again_reuses_what_runs(stack):
    before = pids(stack)
    assert stack.start() is False, "nothing new was started"
    assert pids(stack) == before and all(before.values())
    assert all(s.healthy for s in stack.status())


def test_a_port_in_use_is_named_with_the_setting_to_change(state_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = load_settings(
            LOCAL_STATE_DIR=state_dir,
            POSTGRES_PORT=port,
            POSTGRES_PASSWORD="x",
            MONGO_URI=on_port(load_settings(LakeSettings).MONGO_URI, free_port()),
        )
        with pytest.raises(StackError, match=f"port {port} .* POSTGRES_PORT in .env"):
            LocalStack(settings).start()


def test_a_second_stack_starts_stops_and_leaves_nothing_running(state_dir):
    settings = load_settings(
        LOCAL_STATE_DIR=state_dir,
        POSTGRES_PORT=free_port(),
        POSTGRES_PASSWORD="pw2",
        MONGO_URI=on_port(load_settings(LakeSettings).MONGO_URI, free_port()),
    )
    local = LocalStack(settings)
    local.start()
    try:
        assert all(s.healthy for s in local.status())
    finally:
        assert local.stop() is True
    # Every service of the stack is listed, the two it ran among them, all stopped.
    assert {s.name: s.state for s in local.status()} == dict.fromkeys(CORE + PLATFORM, "STOPPED")
    leftovers = subprocess.run(["pgrep", "-f", str(state_dir)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
    assert local.stop() is False

    removed = local.clean()
    assert {p.name for p in removed} == {"postgres", "lake", "logs"}
    assert not any((state_dir / name).exists() for name in ("postgres", "lake", "logs"))
    assert local.clean() == []


def test_passwords_changed_in_the_settings_are_the_lakes_after_a_restart(state_dir):
    """The lake keeps its data and takes the logins the settings hold at each start: the old passwords no longer
    open it, and a program without a login still reads nothing."""
    port = free_port()
    first = isolated_settings(
        state_dir, POSTGRES_PASSWORD="pw3", MONGO_URI=f"mongodb://keeper:first-pw@127.0.0.1:{port}/?authSource=admin"
    )
    local = LocalStack(first)
    local.start()
    try:
        with MongoClient(first.MONGO_URI, document_class=dict) as client:
            client[first.MONGO_DB].kept.insert_one({"_id": "kept"})
    finally:
        local.stop()
    second = first.model_copy(
        update={
            "MONGO_URI": f"mongodb://keeper:second-pw@127.0.0.1:{port}/?authSource=admin",
            "LAKE_READER_PASSWORD": SecretStr("reader-second-pw"),
        }
    )
    local = LocalStack(second)
    local.start()
    try:
        with MongoClient(second.MONGO_URI, document_class=dict) as client:
            assert client[second.MONGO_DB].kept.find_one() == {"_id": "kept"}
        with MongoClient(lake_server.reader_uri(second), document_class=dict) as reader:
            assert reader[second.MONGO_DB].kept.count_documents({}) == 1
        for stale in (first.MONGO_URI, lake_server.reader_uri(first)):
            with (
                MongoClient(stale, document_class=dict) as client,
                pytest.raises(OperationFailure, match="Authentication failed"),
            ):
                client[second.MONGO_DB].kept.count_documents({})
        with (
            MongoClient("127.0.0.1", port, document_class=dict) as anonymous,
            pytest.raises(OperationFailure) as refused,
        ):
            anonymous[second.MONGO_DB].kept.count_documents({})
        assert refused.value.code == 13
    finally:
        local.stop()


def test_cli_status_exits_non_zero_when_nothing_runs(tmp_path):
    env = {"LOCAL_STATE_DIR": str(tmp_path), "POSTGRES_PASSWORD": "x", "PATH": "/usr/bin:/bin"}
    result = run_module(env, "market_weather.stack", "status")
    assert result.returncode == 1
    assert "DOWN postgres" in result.stdout and "DOWN lake" in result.stdout
    for service in ("spark_master", "spark_worker", "airflow_apiserver", "airflow_scheduler", "mongo_express"):
        assert f"DOWN {service}" in result.stdout, "every service of the stack is listed"


def test_make_status_lists_the_services_without_makes_error_line(tmp_path):
    env = {**os.environ, "LOCAL_STATE_DIR": str(tmp_path)}
    result = subprocess.run(["make", "-s", "status"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "make:" not in result.stdout + result.stderr
    assert result.stdout.count("DOWN ") == len(CORE + PLATFORM) == 13


def test_cli_reports_a_malformed_setting_by_name(tmp_path):
    env = {"POSTGRES_PORT": "not-a-port", "PATH": "/usr/bin:/bin"}
    result = run_module(env, "market_weather.stack", "status")
    assert result.returncode == 2
    assert "POSTGRES_PORT" in result.stderr and "Traceback" not in result.stderr


def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "nobody", "--", *argv], capture_output=True, text=True)


def test_postgres_lets_no_other_local_user_in(stack):
    """Its socket is for the server's user alone; over TCP every role needs its password."""
    s = stack.settings
    assert stack.pg_run.stat().st_mode & 0o777 == 0o700
    socket_file = stack.pg_run / f".s.PGSQL.{s.POSTGRES_PORT}"
    assert socket_file.stat().st_mode & 0o777 == 0o700
    if os.geteuid() != 0:
        pytest.fail("run as root to try the cluster as another OS user (CI does)")
    psql = ["psql", "-w", "-p", str(s.POSTGRES_PORT), "-U", PG_SUPERUSER, "-d", "postgres", "-c", "SELECT 1"]
    by_socket = as_nobody(*psql, "-h", str(stack.pg_run))
    assert by_socket.returncode != 0 and "Permission denied" in by_socket.stderr
    by_tcp = as_nobody(*psql, "-h", "127.0.0.1")
    assert by_tcp.returncode != 0 and "no password supplied" in by_tcp.stderr
    guessed = as_nobody("env", "PGPASSWORD=guess", *psql, "-h", "127.0.0.1")
    assert guessed.returncode != 0 and "password authentication failed" in guessed.stderr
