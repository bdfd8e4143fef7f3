"""Warm a Spark Connect server that just started: the job's queries, over an empty window of the lake, a few times.

A new server's first loads run on a cold JVM (classes loaded, code compiled as it goes): on two cores its first
minute's load took 24 s and the next ten 8 to 10 s each, against 4 to 5 s once warm. `job.connect serve` starts this
in a process of its own beside the server. It waits for the server to answer, then runs SPARK_CONNECT_WARM_UP_ROUNDS
sessions, each planning and running what a load does: the lake read through the connector, the transforms, the
tally and every table's stream. The window is a second of 1970, before any write: it reads nothing and writes
nothing, neither in the lake nor in the warehouse, and it never takes the loads' lock (a load that starts meanwhile
runs beside it). A warm-up that fails says so in one line and ends; the server runs on, its first loads slower.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime, timedelta

from market_weather.job import connect, lake_reader, loader, transforms
from market_weather.settings import Settings, get_settings

log = logging.getLogger("spark_connect.warm_up")

# A window of the lake where nothing is written: its ObjectIds would be of 1970.
EMPTY_WINDOW = (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=1))
# How long a server may take to answer after its start before the warm-up gives up.
SERVER_START_WAIT_S = 300.0


def warm_up_round(settings: Settings) -> float:
    """One load's Spark work, in a session of its own, over EMPTY_WINDOW; its seconds."""
    start = time.perf_counter()
    session = connect.remote_session(settings)
    try:
        out = transforms.to_warehouse(lake_reader.read_window(session, settings, *EMPTY_WINDOW))
        read, _ = out.counts()
        if read:
            raise RuntimeError(f"the warm-up's window holds {read} documents; it must hold none")
        for table in out.tables.values():
            for _ in loader.arrow_batches(table):
                pass
    finally:
        session.stop()
    return time.perf_counter() - start


def alive(pid: int | None) -> bool:
    """Whether the server's process (None: not known) is still there."""
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_for_server(settings: Settings, pid: int | None, timeout: float = SERVER_START_WAIT_S) -> bool:
    """Whether the server answers, waiting for it while its process lives, for `timeout` at most."""
    deadline = time.monotonic() + timeout
    while not connect.answers(settings):
        if time.monotonic() > deadline or not alive(pid):
            return False
        time.sleep(1)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--server-pid", type=int, help="the server's process: the warm-up ends when it does")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    rounds = settings.SPARK_CONNECT_WARM_UP_ROUNDS
    if not rounds:
        return 0
    where = connect.where(settings)
    if not wait_for_server(settings, args.server_pid):
        log.warning("%s did not answer within %.0f s or stopped: no warm-up", where, SERVER_START_WAIT_S)
        return 0
    try:
        seconds = []
        for _ in range(rounds):
            if not alive(args.server_pid):
                raise RuntimeError("the server stopped")
            seconds.append(warm_up_round(settings))
    except Exception as exc:
        log.warning("the warm-up of %s stopped: %s", where, " ".join(f"{type(exc).__name__}: {exc}".split())[:500])
        return 0
    log.info("%s warmed up: %d rounds of a load's queries, %s s", where, rounds, " ".join(f"{s:.1f}" for s in seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
