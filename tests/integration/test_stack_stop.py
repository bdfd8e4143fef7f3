"""Stopping what runs: `stop` and `clean` reach a running bench stack too, and a bench stops its own
stack however it ends."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import psutil
import psycopg
import pytest

import bench.run
from bench.run import Bench
from market_weather.settings import Settings, load_settings
from market_weather.stack import services
from market_weather.stack.ports import isolated_settings
from market_weather.stack.services import LocalStack
from tests.conftest import run_module

PASSWORD = "stop-test-pw"


@pytest.fixture
def base(state_dir):
    """Settings of a main stack in a throw-away folder; its bench stack lives in state_dir/bench.
    Whatever a failed test left running there is stopped before the folder goes."""
    settings = load_settings(LOCAL_STATE_DIR=state_dir, POSTGRES_PASSWORD=PASSWORD)
    yield settings
    for folder in (state_dir / "bench", state_dir):
        LocalStack(load_settings(LOCAL_STATE_DIR=folder, POSTGRES_PASSWORD=PASSWORD)).stop()


@pytest.fixture
def cli_env(state_dir) -> dict[str, str]:
    return {**os.environ, "LOCAL_STATE_DIR": str(state_dir), "POSTGRES_PASSWORD": PASSWORD}


@pytest.fixture(autouse=True)
def _results(tmp_path, monkeypatch):
    """Reports of the benches these tests run go to a throw-away folder."""
    monkeypatch.setattr(bench.run, "RESULTS", tmp_path / "results")
    monkeypatch.delenv("BENCH_KEEP", raising=False)


def started(stack: LocalStack) -> LocalStack:
    stack.start()
    assert all(s.healthy for s in stack.status())
    return stack


def processes(stack: LocalStack) -> dict[str, int]:
    """supervisord and each program it runs, by pid."""
    pids = {p["name"]: p["pid"] for p in stack._supervisor().supervisor.getAllProcessInfo()}
    return {"supervisord": int((stack.state_dir / "supervisord.pid").read_text()), **pids}


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def assert_nothing_left(stack: LocalStack, pids: dict[str, int]) -> None:
    still = {name: pid for name, pid in pids.items() if alive(pid)}
    assert still == {}, f"still running: {still}"
    ports = {"postgres": stack.settings.POSTGRES_PORT, "lake": stack.lake_port}
    assert [name for name, port in ports.items() if answers(port)] == []
    leftovers = subprocess.run(["pgrep", "-af", str(stack.state_dir)], capture_output=True, text=True).stdout
    assert leftovers == ""


def test_stop_stops_the_bench_stack_and_the_main_one(base, cli_env, state_dir):
    main = started(LocalStack(isolated_settings(state_dir, POSTGRES_PASSWORD=PASSWORD)))
    bench_stack = started(Bench("small", base).stack)
    assert bench_stack.state_dir == state_dir.resolve() / "bench"
    pids = {"main": processes(main), "bench": processes(bench_stack)}

    result = run_module(cli_env, "market_weather.stack", "stop")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"stopped the bench stack in {bench_stack.state_dir}",
        f"stopped the main stack in {main.state_dir}",
    ]
    assert_nothing_left(bench_stack, pids["bench"])
    assert_nothing_left(main, pids["main"])
    again = run_module(cli_env, "market_weather.stack", "stop")
    assert again.returncode == 0 and again.stdout.strip() == "nothing was running"


def test_clean_stops_the_bench_stack_before_removing_its_data(base, cli_env, state_dir):
    bench_stack = started(Bench("small", base).stack)
    pids = processes(bench_stack)

    result = run_module(cli_env, "market_weather.stack", "clean")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"stopped the bench stack in {bench_stack.state_dir}"
    assert f"removed {bench_stack.state_dir}" in lines[1:]
    assert not bench_stack.state_dir.exists()
    assert_nothing_left(bench_stack, pids)


class FailingBench(Bench):
    """A bench whose first phase ends the run at once, with what `failure` does."""

    def __init__(self, base: Settings, failure):
        super().__init__("small", base)
        self.failure = failure
        self.pids: dict[str, int] = {}

    def lake_servers(self) -> None:
        self.pids = processes(self.stack)
        self.failure()

    lake_ingest = lake_servers  # whichever of the two runs first


def raise_error() -> None:
    raise RuntimeError("forced failure")


def interrupt() -> None:
    raise KeyboardInterrupt


def terminate() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)  # the bench's handler ends the run here


def test_a_bench_whose_folder_was_removed_under_it_still_stops_its_stack(base):
    """What once left the lake running: a clean-data of the bench's folder took supervisord's socket and pid
    file with it, `stop` found nothing to stop, and the lake went on serving its deleted files."""

    def remove_folder() -> None:
        shutil.rmtree(run.stack.state_dir)
        raise RuntimeError("the bench's folder was removed")

    run = FailingBench(base, remove_folder)
    with pytest.raises(psycopg.Error):  # the machine's facts ask the server, which lost its files
        run.run()
    assert {"supervisord", "postgres", "lake"} <= run.pids.keys()
    assert_nothing_left(run.stack, run.pids)


def test_a_failed_phase_still_writes_the_report_and_stops_the_stack(base):
    run = FailingBench(base, raise_error)
    report = run.run()
    assert "forced failure" in report.read_text()
    assert run.pids and run.stack.stop() is False
    assert_nothing_left(run.stack, run.pids)


def sigterm_reached_the_test(signum, frame):
    raise AssertionError("SIGTERM reached the test: the bench did not handle it")


@pytest.mark.parametrize(("failure", "raised"), [(interrupt, KeyboardInterrupt), (terminate, SystemExit)])
def test_an_interrupted_bench_stops_its_stack(base, failure, raised):
    previous = signal.signal(signal.SIGTERM, sigterm_reached_the_test)
    try:
        run = FailingBench(base, failure)
        with pytest.raises(raised):
            run.run()
        assert signal.getsignal(signal.SIGTERM) is sigterm_reached_the_test, "the bench gives SIGTERM back"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert run.pids and run.stack.stop() is False
    assert_nothing_left(run.stack, run.pids)


def test_a_stack_that_fails_to_start_is_stopped(base, monkeypatch):
    seen: dict[str, int] = {}

    def failing_migrate(settings):
        seen.update(processes(run.stack))
        raise RuntimeError("forced failure while the stack starts")

    run = Bench("small", base)
    monkeypatch.setattr(services, "migrate", failing_migrate)
    with pytest.raises(RuntimeError, match="while the stack starts"):
        run.run()
    assert {"supervisord", "postgres", "lake"} <= seen.keys()
    assert_nothing_left(run.stack, seen)


def test_bench_keep_leaves_the_stack_to_make_stop(base, cli_env, monkeypatch):
    monkeypatch.setenv("BENCH_KEEP", "1")
    run = FailingBench(base, interrupt)
    with pytest.raises(KeyboardInterrupt):
        run.run()
    assert all(alive(pid) for pid in run.pids.values())

    result = run_module(cli_env, "market_weather.stack", "stop")
    assert result.stdout.strip() == f"stopped the bench stack in {run.stack.state_dir}"
    assert_nothing_left(run.stack, run.pids)
