"""`make bench`: the pipeline measured against its physical floors and the usual alternative.

A suite, not tests: nothing passes or fails on time. Every figure is measured side by side in one
run on a bench stack of its own (LOCAL_STATE_DIR/bench, free ports), and reported as a ratio where
one applies, so it holds on a noisy machine. Writes bench/results/<UTC timestamp>.json and .md.

The figures, in the order they run (FIGURES): lake_servers (SecantusDB's Python and Rust servers side by side,
each beside the stack on a folder and port of its own, at the small scale's sizes whatever the scale),
lake_ingest, backfill, dashboard (the dashboard's API over the backfill's warehouse: p50 and p95 per endpoint,
and per page for a whole refresh), warehouse_load, memory, incremental_and_idle, intake (files in at two sizes,
bench/intake.py), freshness. All but
lake_servers run on the lake server the stack runs (LAKE_SERVER).

BENCH_SCALE=small finishes in about a quarter of an hour on two cores; the default scale is the one the
README quotes. BENCH_ONLY=backfill,dashboard runs only the figures named (in the order above), so one can
be measured again at the default scale without the whole suite; a figure that reads the backfill's
warehouse (dashboard, warehouse_load, incremental_and_idle) brings the backfill with it. The report names
the figures run; the others show "not measured".
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import psutil
import psycopg
import psycopg2
import psycopg2.extras
import psycopg2.sql
import requests
from bson import ObjectId
from psycopg import sql
from pymongo import MongoClient
from pyspark.sql import types as T

from market_weather.contract import ASSET_PRICES, COINCAP_HISTORY
from market_weather.job import connect, loader
from market_weather.lake import LakeWriter, ensure_lake_indexes, ensure_raw_indexes
from market_weather.producer import commands, records
from market_weather.producer.simulated import SimulatedCoinCap
from market_weather.settings import PROJECT_ROOT, Location, Settings, get_settings
from market_weather.stack import lake_server
from market_weather.stack.ports import free_port, on_port
from market_weather.stack.postgres_cluster import PG_SUPERUSER
from market_weather.stack.services import bench_stack
from market_weather.times import split_range
from market_weather.warehouse import merge, runs
from market_weather.warehouse.migrate import migrate

RESULTS = PROJECT_ROOT / "bench" / "results"
CADENCE_S = 60
# The first load after a backfill's, as the schedule would run it: a minute's few documents, two minutes on.
POST_BACKFILL_NEW_DOCS = 10
POST_BACKFILL_WAIT_S = 120
START = datetime(2025, 1, 1, tzinfo=UTC)
# The figures in the order `measure` runs them; BENCH_ONLY picks among them. Those that read the backfill's
# warehouse need the backfill run before them.
FIGURES = (
    "lake_servers",
    "lake_ingest",
    "backfill",
    "dashboard",
    "warehouse_load",
    "memory",
    "incremental_and_idle",
    "intake",
    "freshness",
)
# The lake servers compared, the fallback first; each figure of the comparison is reported as Rust ÷ Python.
LAKE_SERVERS = ("python", "rust")
REQUIRES = {"dashboard": "backfill", "warehouse_load": "backfill", "incremental_and_idle": "backfill"}
# The dashboard figure: requests before the timed ones (the first ones fill pools and caches); the scale's
# timed requests per endpoint and page, fewer (never under the minimum) once they have taken the time limit
# together, so a slow endpoint costs minutes, not hours; a page's budget; and at most as many requests in
# flight as a browser opens connections to one host.
DASHBOARD_WARMUP = 3
DASHBOARD_MIN_SAMPLES = 5
DASHBOARD_TIME_LIMIT_S = 60.0
DASHBOARD_BUDGET_MS = 1000.0
BROWSER_CONNECTIONS = 6


@dataclass(frozen=True)
class Scale:
    ingest_docs: int
    load_rows: int
    backfill_points: int
    incremental_new: int
    memory_points: tuple[int, int]
    freshness_cycles: int
    dashboard_requests: int  # timed requests per endpoint, and timed refreshes per page
    intake_bytes: tuple[int, int]  # the two sizes of file taken in


SCALES = {
    "small": Scale(20_000, 50_000, 150_000, 10_000, (30_000, 150_000), 3, 15, (10_000_000, 100_000_000)),
    "default": Scale(100_000, 300_000, 2_000_000, 10_000, (100_000, 500_000), 10, 40, (10_000_000, 1_000_000_000)),
}
ASSETS = ["bitcoin", "ethereum", "tether", "binance-coin", "solana", "xrp", "cardano", "dogecoin"]


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile: statistics.quantiles(samples, n=20, method="inclusive")[18], the last of the
    19 cut points, interpolated between the two samples around it."""
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def samples_ms(measure: Callable[[], float], n: int) -> list[float]:
    """`n` timings of `measure` (which gives seconds) in ms, or fewer, never under DASHBOARD_MIN_SAMPLES,
    once they have taken DASHBOARD_TIME_LIMIT_S together."""
    samples: list[float] = []
    while len(samples) < n and (len(samples) < DASHBOARD_MIN_SAMPLES or sum(samples) < DASHBOARD_TIME_LIMIT_S * 1000):
        samples.append(measure() * 1000)
    return samples


def select_figures(only: str) -> tuple[tuple[str, ...], list[str]]:
    """The figures BENCH_ONLY names (comma-separated; all when empty), in FIGURES' order, with those they
    need; and a note for each figure added that way. ValueError names an unknown one."""
    asked = [name.strip() for name in only.split(",") if name.strip()]
    if not asked:
        return FIGURES, []
    unknown = [name for name in asked if name not in FIGURES]
    if unknown:
        raise ValueError(
            f"BENCH_ONLY names no figure {', '.join(map(repr, unknown))}: "
            f"give some of {', '.join(FIGURES)}, separated by commas"
        )
    wanted, notes = set(asked), []
    for name in asked:
        required = REQUIRES.get(name)
        if required and required not in wanted:
            wanted.add(required)
            notes.append(f"BENCH_ONLY: {name} reads the backfill's warehouse, so {required} runs too")
    return tuple(name for name in FIGURES if name in wanted), notes


class Request(NamedTuple):
    path: str  # under /api/
    params: dict[str, str | int]

    @property
    def label(self) -> str:
        return f"{self.path}?{urlencode(self.params)}" if self.params else self.path


def dashboard_requests(asset: str, location: str) -> tuple[list[Request], dict[str, list[list[Request]]]]:
    """Every endpoint with the parameters its page uses, the candles also at the page's other intervals
    and ranges; and each page's refresh (every 10 s) as its script makes it: steps one after the other,
    the requests of a step at once (dashboard/src/market_weather/dashboard/static/*.js)."""
    prices = Request("markets/prices", {})
    candles = Request("markets/candles", {"asset": asset, "interval": "1h", "range": "7d"})
    places = Request("weather/locations", {})
    weather = Request("weather/observations", {"location": location, "range": "24h"})
    air = Request("air/observations", {"location": location, "range": "24h"})
    pipeline = [
        Request("pipeline/freshness", {"range": "24h"}),
        Request("pipeline/runs", {"limit": 50}),
        Request("pipeline/lake", {}),
        Request("pipeline/quality", {}),
        Request("pipeline/dead-letters", {"range": "24h"}),
    ]
    other_candles = [
        Request("markets/candles", {"asset": asset, "interval": interval, "range": range_})
        for interval, range_ in (("1m", "24h"), ("1h", "30d"), ("1d", "all"))
    ]
    endpoints = [Request("health", {}), prices, candles, *other_candles, places, weather, air, *pipeline]
    pages = {
        "markets": [[prices], [candles]],
        "weather": [[places], [weather, air]],
        "pipeline": [pipeline],
    }
    return endpoints, pages


def check_answer(request: Request, body: Any) -> None:
    """The answer holds what was asked for: timing an empty one would flatter the dashboard."""
    if request.path == "markets/prices":
        missing = set(ASSETS) - {p["asset_id"] for p in body}
        empty = f"no price of {sorted(missing)}" if missing else ""
    else:
        key = {"markets/candles": "candles", "weather/observations": "observations", "air/observations": "observations"}
        empty = f"no {key[request.path]}" if request.path in key and not body[key[request.path]] else ""
    if empty:
        raise RuntimeError(f"the dashboard's /api/{request.label} answered {empty}")


@contextmanager
def timed(into: dict, key: str):
    start = time.perf_counter()
    yield
    into[key] = time.perf_counter() - start


class PeakRss:
    """Peak resident memory of a process and all its children, sampled every 100 ms."""

    def __init__(self, pid: int):
        self.process, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.is_set():
            try:
                procs = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class Measured(NamedTuple):
    seconds: float  # wall time
    peak_mb: float  # peak RSS of the process tree
    stdout: str
    beside_peak_mb: float = 0.0  # peak RSS of the process tree watched beside it (the Spark Connect server)


def run_measured(argv: list[str], env: dict[str, str], beside: int | None = None) -> Measured:
    """Run a command to its end, measured, and the process tree `beside` (a pid) while it runs. Interrupted,
    the bench ends the command too rather than leave it running."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRss(proc.pid) as rss, PeakRss(beside or proc.pid) as beside_rss:
        try:
            out, err = proc.communicate()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{(out + err)[-3000:]}")
    return Measured(time.perf_counter() - start, rss.peak / 2**20, out, beside_rss.peak / 2**20 if beside else 0.0)


def running(process: psutil.Process) -> bool:
    """Still the process it was (not a reused pid), and not one that has ended and waits to be reaped."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_by_pid(supervisord: psutil.Process, timeout: float = 300) -> None:
    """Stop a supervisord that `LocalStack.stop` could not reach (its folder removed under it) or did not
    wait for long enough: on TERM it stops its programs as on a shutdown; what outlives it is killed."""
    log(f"supervisord (pid {supervisord.pid}) still runs: stopping it and what it started by pid")
    try:
        started = supervisord.children(recursive=True)
        supervisord.terminate()
    except psutil.NoSuchProcess:
        return
    _, alive = psutil.wait_procs([supervisord], timeout=timeout)
    for process in [*alive, *started]:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@contextmanager
def sigterm_as_exit() -> Iterator[None]:
    """SIGTERM ends the run as Ctrl-C does: through the finally blocks that stop what the bench started."""

    def exit_(signum: int, frame: object) -> None:
        log("terminated: no report written")
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Bench:
    def __init__(self, scale_name: str, base: Settings | None = None, figures: Sequence[str] = FIGURES):
        """A bench whose stack lives in the bench folder of `base`'s LOCAL_STATE_DIR (the environment's settings
        by default), measuring `figures` (all by default; see `select_figures`)."""
        self.scale_name, self.scale = scale_name, SCALES[scale_name]
        self.figures = tuple(figures)
        self.stack = bench_stack(
            base or get_settings(),
            COINCAP_ASSETS="bitcoin,ethereum",
            OPENWEATHER_LOCATIONS="paris:Paris:48.8566:2.3522",
            INGEST_COINCAP_SCHEDULE="* * * * *",
        )
        self.settings = self.stack.settings
        self.results: dict = {}
        self.backfill_loaded_at = time.monotonic()
        self.sizes: dict = {}

    # ------------------------------------------------------------------------------ plumbing
    def variant(self, name: str, lake: Settings | None = None) -> Settings:
        """Settings for a fresh lake database and warehouse database called `name`, the lake on the stack's lake
        server or on `lake`'s (MONGO_URI)."""
        with psycopg.connect(
            host=str(self.stack.pg_run),
            port=self.settings.POSTGRES_PORT,
            user=PG_SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            database, owner = sql.Identifier(name), sql.Identifier(self.settings.POSTGRES_USER)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(database, owner))
        settings = (lake or self.settings).model_copy(update={"POSTGRES_DB": name, "MONGO_DB": name})
        migrate(settings)
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            client.drop_database(name)
            ensure_lake_indexes(client[name])
        return settings

    def env(self, settings: Settings) -> dict[str, str]:
        # The loads run as they run in the stack: sessions on its Spark Connect server, never in-process.
        return {**os.environ, **settings.as_environment(), "SPARK_LOAD_SESSION": "connect"}

    def history(self, settings: Settings, points: int, start: datetime = START) -> int:
        """Simulated m1 history of `points` points spread over the assets, written by the producer's backfill
        command (what `python -m market_weather.producer backfill` and the backfill DAG run)."""
        per_asset = points // len(ASSETS)
        end = start + timedelta(minutes=per_asset)
        result = commands.backfill(
            "coincap", start, end, "bench", interval="m1", entities=ASSETS, settings=settings, progress=True
        )
        return result.inserted

    def job(self, settings: Settings) -> tuple[Measured, dict]:
        """One run of the job, a session on the stack's Spark Connect server as a scheduled load is: its wall
        time, the peak RSS of the job's process and of the server (the loads' driver), and its run summary."""
        measured = run_measured(
            [sys.executable, "-m", "market_weather.job.lake_to_warehouse"],
            self.env(settings),
            beside=self.stack.supervisor.pid("spark_connect"),
        )
        return measured, json.loads(measured.stdout[measured.stdout.index("{") :])

    def restart_spark_connect(self, warmed: bool = True) -> None:
        """A fresh Spark Connect server, so that its peak memory over the next load is that load's alone; and, when
        `warmed`, once its warm-up has ended, so that the load runs alone on it."""
        log_path = self.stack.log_dir / "spark_connect.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        self.stack.supervisor.stop_programs(["spark_connect"])
        self.stack.supervisor.start_program("spark_connect")
        self.stack.wait_healthy(("spark_connect",))
        deadline = time.monotonic() + 600
        while warmed and time.monotonic() < deadline:
            with log_path.open("rb") as server_log:
                server_log.seek(offset)
                text = server_log.read().decode(errors="replace")
            if any(end in text for end in ("warmed up: ", "no warm-up", "the warm-up of")):
                return
            time.sleep(2)
        if warmed:
            raise RuntimeError(f"the Spark Connect server's warm-up did not end; see {log_path}")

    # ----------------------------------------------------------------------------- figures
    def lake_ingest(self) -> None:
        """Producer write path (validate, envelope, unordered bulk writes) vs raw insert_many."""
        n = self.scale.ingest_docs
        times = self.ingest(self.variant("bench_ingest"), n)
        self.results |= {
            "lake_ingest_docs": n,
            "lake_ingest_producer_docs_per_s": n / times["producer"],
            "lake_ingest_raw_docs_per_s": n / times["raw"],
            "lake_ingest_ratio": times["raw"] / times["producer"],
        }

    @staticmethod
    def ingest(settings: Settings, n: int) -> dict[str, float]:
        """Seconds for `n` history documents through the producer's write path and through raw insert_many.

        The one figure that calls the producer's validation and LakeWriter rather than its commands, on purpose:
        it times the write path alone against the raw floor, on responses made before the clock starts, so
        neither side pays for the source. A command would time the simulator's responses too."""
        source = SimulatedCoinCap(2)
        first = int(START.timestamp() * 1000)
        responses = [
            source.history("bitcoin", "m1", lo, hi) for lo, hi in split_range(first, first + n * 60_000, 86_400_000)
        ]
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            db = client[settings.MONGO_DB]
            writer = LakeWriter(db)
            raw_docs = [
                copy.deepcopy(d)
                for r in responses
                for d in records.coincap_history(
                    r, "bitcoin", records.Envelope("coincap", "/h", datetime.now(UTC), "raw")
                ).documents
            ]
            raw = db["raw_insert"]
            ensure_raw_indexes(raw)  # the same work on the server as the producer's writes: the lake's indexes
            # Interleaved, one response at a time, so both paths meet the server in the same state.
            times = {"producer": 0.0, "raw": 0.0}
            offset = 0
            for response in responses:
                start = time.perf_counter()
                envelope = records.Envelope("coincap", "/assets/bitcoin/history", datetime.now(UTC), "bench")
                writer.write(records.coincap_history(response, "bitcoin", envelope))
                times["producer"] += time.perf_counter() - start
                chunk = raw_docs[offset : offset + len(response["data"])]
                offset += len(chunk)
                start = time.perf_counter()
                raw.insert_many(chunk, ordered=False)
                times["raw"] += time.perf_counter() - start
        return times

    def lake_servers(self) -> None:
        """SecantusDB's Python server and its Rust server side by side: each in a folder of its own on a port of
        its own, started with logins as the stack starts it, taking the same operations at the small scale's
        sizes. Per server: the producer's ingest and raw insert_many, a raw range read and counts of the
        backfill's collection, and the backfill end to end (the producer's backfill command, then the job, its
        plan and read phases apart); then each as Rust ÷ Python, faster > 1."""
        small = SCALES["small"]
        figures: dict[str, dict[str, float]] = {}
        for kind in LAKE_SERVERS:
            log(f"lake servers: {kind}")
            with self.side_lake(kind) as lake:
                figures[kind] = self.lake_server_figures(lake, small.ingest_docs, small.backfill_points)
        python, rust = figures["python"], figures["rust"]
        speedups = {
            name: (rust[name] / python[name] if name.endswith("_per_s") else python[name] / rust[name])
            for name in python
            if python[name] and rust[name]
        }
        self.results |= {
            "lake_servers_ingest_docs": small.ingest_docs,
            "lake_servers_backfill_points": small.backfill_points,
            "lake_servers": figures,
            "lake_servers_rust_over_python": speedups,
            "lake_servers_ingest_speedup": speedups["producer_ingest_docs_per_s"],
        }

    @contextmanager
    def side_lake(self, kind: str) -> Iterator[Settings]:
        """A lake server of `kind` beside the stack's, given its logins and run as the stack runs it (its flags,
        its cache), over an empty folder; the bench's settings pointed at it."""
        settings = self.settings.model_copy(
            update={"LAKE_SERVER": kind, "MONGO_URI": on_port(self.settings.MONGO_URI, free_port())}
        )
        server = lake_server.chosen(settings)
        assert server.kind == kind, f"the {kind} lake server is not available ({server.name} is)"
        storage = self.stack.state_dir / "lake-servers" / kind
        shutil.rmtree(storage, ignore_errors=True)
        lake_server.provision(settings, server, storage)
        process = subprocess.Popen(
            lake_server.command(settings, server, storage), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    log(f"  {lake_server.check(settings, server)}")
                    break
                except Exception:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the {kind} lake server did not start over {storage}") from None
                    time.sleep(0.5)
            yield settings
        finally:
            process.terminate()
            process.wait(timeout=300)
            shutil.rmtree(storage, ignore_errors=True)

    def lake_server_figures(self, lake: Settings, ingest_docs: int, backfill_points: int) -> dict[str, float]:
        ingest_s = self.ingest(self.variant("bench_servers_ingest", lake), ingest_docs)
        settings = self.variant("bench_servers_backfill", lake)
        times: dict[str, float] = {}
        with timed(times, "producer"):
            points = self.history(settings, backfill_points)
        job, summary = self.job(settings)
        job_s = job.seconds
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            history = client[settings.MONGO_DB][COINCAP_HISTORY]
            # The job's read: an _id range (ObjectIds made since 2000: every document), the fields it reads.
            window = {"_id": {"$gte": ObjectId.from_datetime(START.replace(year=2000))}}
            fields = {"entity_id": 1, "observed_at": 1, "fetched_at": 1, "payload": 1}
            with timed(times, "read"):
                read = sum(1 for _ in history.find(window, fields, batch_size=10_000))
            with timed(times, "count"):
                counted = history.count_documents({})
            with timed(times, "count_range"):
                history.count_documents(window)
        assert read == counted == points, (read, counted, points)
        return {
            "producer_ingest_docs_per_s": ingest_docs / ingest_s["producer"],
            "raw_insert_many_docs_per_s": ingest_docs / ingest_s["raw"],
            "range_read_docs_per_s": read / times["read"],
            "count_seconds": times["count"],
            "count_range_seconds": times["count_range"],
            "backfill_producer_seconds": times["producer"],
            "job_plan_seconds": summary["seconds"]["plan"],
            "job_read_seconds": summary["seconds"]["read"],
            "job_seconds": job_s,
            "backfill_seconds": times["producer"] + job_s,
        }

    def backfill(self) -> None:
        """A long simulated history through lake -> Spark -> warehouse, against the raw floors."""
        settings = self.main = self.variant("bench_main")
        times: dict = {}
        with timed(times, "producer"):
            points = self.history(settings, self.scale.backfill_points)
        self.restart_spark_connect()
        job, summary = self.job(settings)
        job_s = job.seconds
        self.backfill_loaded_at = time.monotonic()
        total = times["producer"] + job_s
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            with timed(times, "read"):
                read = sum(1 for _ in client[settings.MONGO_DB][COINCAP_HISTORY].find({}, batch_size=10_000))
            self.sizes["lake_bytes"] = client[settings.MONGO_DB].command("dbstats")["dataSize"]
        with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_copy (LIKE asset_prices INCLUDING ALL)")
            buffer = io.BytesIO()
            with conn.cursor().copy("COPY asset_prices TO STDOUT (FORMAT binary)") as copy_out:
                for block in copy_out:
                    buffer.write(block)
            rows = conn.execute("SELECT count(*) FROM asset_prices").fetchone()[0]
            with timed(times, "copy"):
                with conn.cursor().copy("COPY bench_copy FROM STDIN (FORMAT binary)") as copy_in:
                    copy_in.write(buffer.getvalue())
            self.sizes["warehouse_bytes"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        floors = {"lake_read_points_per_s": read / times["read"], "warehouse_copy_rows_per_s": rows / times["copy"]}
        spark_start = summary["seconds"]["spark_start"]
        self.results |= {
            "backfill_job_phase_seconds": summary["seconds"],
            "backfill_job_spark_start_seconds": spark_start,
            "backfill_floor_read_seconds": times["read"],
            "backfill_floor_copy_seconds": times["copy"],
            "job_over_floor": (job_s - spark_start) / (times["read"] + times["copy"]),
            "backfill_points": points,
            "backfill_seconds": total,
            "backfill_producer_seconds": times["producer"],
            "backfill_job_seconds": job_s,
            "backfill_driver_peak_rss_mb": job.beside_peak_mb,
            "backfill_job_client_peak_rss_mb": job.peak_mb,
            "backfill_points_per_s": points / total,
            **floors,
            "backfill_floor_ratio": (points / total) / min(floors.values()),
        }

    def dashboard(self) -> None:
        """The dashboard's API over the backfill's warehouse, as `python -m market_weather.dashboard` serves
        it: each endpoint's p50 and p95 (requests one at a time, wall time of the whole answer), then each
        page's whole refresh, its requests made as its script makes them.

        The backfill is CoinCap history only: the weather page's location (the first the bench stack
        configures) is given weather and air every 10 minutes over the backfill's span first, written
        straight into the warehouse, so its series are not empty."""
        main = getattr(self, "main", None)
        if main is None:
            raise RuntimeError("the dashboard figure reads the backfill's warehouse: run the backfill first")
        location = self.settings.OPENWEATHER_LOCATIONS[0]
        with psycopg.connect(**main.postgres_conninfo, autocommit=True) as conn:
            missing = [
                asset
                for (asset,) in conn.execute(
                    "SELECT a FROM unnest(%s::text[]) a "
                    "WHERE NOT EXISTS (SELECT 1 FROM asset_prices WHERE asset_id = a) "
                    "OR NOT EXISTS (SELECT 1 FROM asset_ohlc WHERE asset_id = a)",
                    [ASSETS],
                ).fetchall()
            ]
            if missing:
                raise RuntimeError(f"the backfill's warehouse holds no prices or no candles of {missing}")
            seeded = self._weather_rows(conn, location)
        endpoints, pages = dashboard_requests(ASSETS[0], location.id)
        n = self.scale.dashboard_requests
        ms: dict[str, list[float]] = {}
        sizes: dict[str, int] = {}
        page_ms: dict[str, list[float]] = {}
        with self.dashboard_running(main) as url, ThreadPoolExecutor(BROWSER_CONNECTIONS) as browser:

            def get(request: Request) -> tuple[float, requests.Response]:
                start = time.perf_counter()
                # A slow answer is a figure, not a failure: the timeout is only there to end a hung one.
                response = requests.get(f"{url}/api/{request.path}", params=request.params, timeout=600)
                seconds = time.perf_counter() - start
                if response.status_code != 200:
                    raise RuntimeError(
                        f"the dashboard's /api/{request.label} answered {response.status_code}: {response.text[:500]}"
                    )
                return seconds, response

            def elapsed(request: Request) -> float:
                return get(request)[0]

            def refresh(steps: list[list[Request]]) -> float:
                start = time.perf_counter()
                for step in steps:
                    for future in [browser.submit(get, request) for request in step]:
                        future.result()
                return time.perf_counter() - start

            login = get(Request("health", {}))[1].json()["warehouse_login"]
            if login != main.DASHBOARD_DB_USER:
                raise RuntimeError(f"the dashboard reads the warehouse as {login!r}, not {main.DASHBOARD_DB_USER!r}")
            # The lake is counted in the background from the start (market_weather.dashboard.data.Lake): the
            # first request answers without the counts while that runs. Timed figures start once it is done.
            first_lake_s, _ = get(Request("pipeline/lake", {}))
            while (lake := get(Request("pipeline/lake", {}))[1].json())["counted_at"] is None:
                time.sleep(1)
            lake_counting_s = lake["counting_seconds"]
            for request in endpoints:
                for _ in range(DASHBOARD_WARMUP):
                    _, response = get(request)
                check_answer(request, response.json())
                sizes[request.label] = len(response.content)
                ms[request.label] = samples_ms(partial(elapsed, request), n)
                log(
                    f"dashboard /api/{request.label}: p50 {statistics.median(ms[request.label]):.1f} ms, "
                    f"p95 {p95(ms[request.label]):.1f} ms"
                )
            for page, steps in pages.items():
                for _ in range(DASHBOARD_WARMUP):
                    refresh(steps)
                page_ms[page] = samples_ms(partial(refresh, steps), n)
                log(
                    f"dashboard page {page}: p50 {statistics.median(page_ms[page]):.1f} ms, "
                    f"p95 {p95(page_ms[page]):.1f} ms"
                )
        page_p95 = {page: p95(samples) for page, samples in page_ms.items()}
        worst = max(page_p95, key=lambda page: page_p95[page])
        self.results |= {
            "dashboard_timed_requests": n,
            "dashboard_samples": {label: len(samples) for label, samples in [*ms.items(), *page_ms.items()]},
            "dashboard_weather_rows_added": seeded,
            "dashboard_first_lake_request_ms": first_lake_s * 1000,
            "dashboard_lake_counting_seconds": lake_counting_s,
            "dashboard_p50_ms": {label: statistics.median(samples) for label, samples in ms.items()},
            "dashboard_p95_ms": {label: p95(samples) for label, samples in ms.items()},
            "dashboard_answer_bytes": sizes,
            "dashboard_page_requests": {
                page: " then ".join(" + ".join(req.label for req in step) for step in steps)
                for page, steps in pages.items()
            },
            "dashboard_page_p50_ms": {page: statistics.median(samples) for page, samples in page_ms.items()},
            "dashboard_page_p95_ms": page_p95,
            "dashboard_worst_page": worst,
            "dashboard_worst_page_p95_ms": page_p95[worst],
            "dashboard_worst_page_p95_share_of_second": page_p95[worst] / DASHBOARD_BUDGET_MS,
        }

    def _weather_rows(self, conn: psycopg.Connection, location: Location) -> int:
        """Weather and air of `location` every 10 minutes over the backfill's span, smooth made-up values,
        as the job would have loaded them; the rows written."""
        end = START + timedelta(minutes=self.scale.backfill_points // len(ASSETS))
        series = "SELECT t, extract(epoch FROM t) AS e FROM generate_series(%(start)s, %(end)s, '10 minutes') t"
        args = {"id": location.id, "start": START, "end": end}
        conn.execute(
            "INSERT INTO locations (location_id, name, lat, lon) VALUES (%(id)s, %(name)s, %(lat)s, %(lon)s) "
            "ON CONFLICT (location_id) DO NOTHING",
            {"id": location.id, "name": location.name, "lat": location.lat, "lon": location.lon},
        )
        weather = conn.execute(
            f"""
            INSERT INTO weather_observations (location_id, observed_at, temp_c, feels_like_c, temp_min_c, temp_max_c,
                   pressure_hpa, humidity_pct, wind_speed_ms, wind_deg, wind_gust_ms, clouds_pct, visibility_m,
                   condition, description)
            SELECT %(id)s, t, temp, temp - 1.5, temp - 1, temp + 1, 1013 + 8 * sin(e / 259200.0),
                   65 + 20 * cos(e / 13751.0), wind, (e / 600)::bigint %% 360, wind * 1.6,
                   50 + 50 * sin(e / 50000.0), 10000, 'Clouds', 'scattered clouds'
              FROM (SELECT t, e, 12 + 6 * sin(e / 13751.0) + 4 * sin(e / 5022000.0) AS temp,
                           4 + 3 * abs(sin(e / 40000.0)) AS wind FROM ({series}) s) v
            ON CONFLICT DO NOTHING
            """,
            args,
        ).rowcount
        air = conn.execute(
            f"""
            INSERT INTO air_quality (location_id, observed_at, aqi, co, no, no2, o3, so2, pm2_5, pm10, nh3)
            SELECT %(id)s, t, 1 + (e / 3600)::bigint %% 5, 230 + 50 * sin(e / 30000.0), 0.5, 15 + 10 * sin(e / 20000.0),
                   60 + 20 * cos(e / 25000.0), 2, 8 + 5 * abs(sin(e / 15000.0)), 14 + 8 * abs(sin(e / 15000.0)), 1
              FROM ({series}) s
            ON CONFLICT DO NOTHING
            """,
            args,
        ).rowcount
        conn.execute("ANALYZE locations, weather_observations, air_quality")
        return weather + air

    @contextmanager
    def dashboard_running(self, settings: Settings) -> Iterator[str]:
        """`python -m market_weather.dashboard` over `settings`' warehouse (as its read-only login: the
        owner's password is not in its environment) and lake, on a free port; its URL once it answers.
        Stopped however the block ends. Its output goes to the bench stack's logs."""
        from market_weather.dashboard import assets

        assets.ensure_installed()
        port = free_port()
        env = {**self.env(settings), "DASHBOARD_HOST": "127.0.0.1", "DASHBOARD_PORT": str(port)}
        env.pop("POSTGRES_PASSWORD", None)
        url = f"http://127.0.0.1:{port}"
        self.stack.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.stack.log_dir / "bench-dashboard.log"
        with log_path.open("w") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "market_weather.dashboard"],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
            try:
                deadline = time.monotonic() + 60
                while True:
                    with contextlib.suppress(requests.ConnectionError):
                        if requests.get(f"{url}/api/openapi.json", timeout=2).ok:
                            break
                    if process.poll() is not None or time.monotonic() > deadline:
                        state = "exited" if process.poll() is not None else "did not answer within 60 s"
                        raise RuntimeError(f"the dashboard {state}:\n{log_path.read_text()[-3000:]}")
                    time.sleep(0.3)
                yield url
            finally:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def warehouse_load(self, spark) -> None:
        """The job's staging + merge vs raw COPY vs a row-by-row execute_batch insert, same rows."""
        m = self.scale.load_rows
        columns = sql.SQL(", ").join(map(sql.Identifier, ASSET_PRICES.columns))
        with psycopg.connect(**self.main.postgres_conninfo) as conn:
            rows = conn.execute(
                sql.SQL("SELECT {} FROM asset_prices ORDER BY asset_id, observed_at LIMIT %s").format(columns), [m]
            ).fetchall()
        m = len(rows)
        settings = self.variant("bench_load")
        money = T.DecimalType(38, 18)
        schema = T.StructType(
            [
                T.StructField("asset_id", T.StringType()),
                T.StructField("observed_at", T.TimestampType()),
                *(T.StructField(c, money) for c in ASSET_PRICES.columns[2:]),
            ]
        )
        df = spark.createDataFrame(rows, schema).cache()
        df.count()
        times: dict = {}
        with psycopg.connect(**settings.postgres_conninfo, autocommit=True) as conn:
            runs.record_start(conn, "bench-load", None)
            staged = merge.create_staging(conn, "bench-load")
            with timed(times, "staging"):
                loader.copy_staging(conn, df, staged["asset_prices"])
            with timed(times, "merge"):
                merge.merge_and_commit(conn, "bench-load", staged, None, m, 0)
            times["ours"] = times["staging"] + times["merge"]
            merge.drop_staging(conn, "bench-load")
            conn.execute("CREATE TABLE bench_copy (LIKE asset_prices INCLUDING ALL)")
            conn.execute("CREATE TABLE bench_peer (LIKE asset_prices INCLUDING ALL)")
            with timed(times, "copy"):
                with conn.cursor().copy(sql.SQL("COPY bench_copy ({}) FROM STDIN").format(columns)) as copy_in:
                    for row in rows:
                        copy_in.write_row(row)
        peer_insert = psycopg2.sql.SQL(
            "INSERT INTO bench_peer ({}) VALUES ({}) ON CONFLICT (asset_id, observed_at) DO NOTHING"
        ).format(
            psycopg2.sql.SQL(", ").join(map(psycopg2.sql.Identifier, ASSET_PRICES.columns)),
            psycopg2.sql.SQL(", ").join(psycopg2.sql.Placeholder() * len(ASSET_PRICES.columns)),
        )
        peer = psycopg2.connect(
            host=settings.POSTGRES_HOST,
            port=settings.POSTGRES_PORT,
            dbname=settings.POSTGRES_DB,
            user=settings.POSTGRES_USER,
            password=settings.POSTGRES_PASSWORD.get_secret_value(),
        )
        with peer, peer.cursor() as cur, timed(times, "peer"):
            psycopg2.extras.execute_batch(cur, peer_insert, rows, page_size=100)
        peer.close()
        df.unpersist()
        self.results |= {
            "warehouse_load_rows": m,
            "warehouse_load_rows_per_s": m / times["ours"],
            "warehouse_load_staging_seconds": times["staging"],
            "warehouse_load_merge_and_ohlc_seconds": times["merge"],
            "warehouse_copy_rows_per_s_same_rows": m / times["copy"],
            "peer_execute_batch_rows_per_s": m / times["peer"],
            "warehouse_load_ratio": times["copy"] / times["ours"],
            "peer_speedup": times["peer"] / times["ours"],
        }

    def incremental_and_idle(self) -> None:
        """Loads as the schedule runs them, each beside the same load on a lake with no backfill: a few
        new documents two minutes after the backfill's load, then `incremental_new` more; then an idle run."""
        later = START + timedelta(days=400)
        time.sleep(max(0.0, POST_BACKFILL_WAIT_S - (time.monotonic() - self.backfill_loaded_at)))
        seconds: dict[str, tuple[float, float]] = {}
        for name, settings in (("backfilled", self.main), ("no_backfill", self.variant("bench_empty"))):
            self.history(settings, POST_BACKFILL_NEW_DOCS, start=later)
            few, few_summary = self.job(settings)
            self.history(settings, self.scale.incremental_new, start=later + timedelta(days=30))
            seconds[name] = (few.seconds, self.job(settings)[0].seconds)
            self.results[f"post_backfill_rows_read_{name}"] = few_summary["rows_read"]
        idle_s = self.job(self.main)[0].seconds
        (few_on_top, many_on_top), (few_alone, many_alone) = seconds["backfilled"], seconds["no_backfill"]
        self.results |= {
            "post_backfill_new_docs": POST_BACKFILL_NEW_DOCS,
            "post_backfill_seconds": few_on_top,
            "post_backfill_seconds_no_backfill": few_alone,
            "post_backfill_incremental_ratio": few_on_top / few_alone,
            "incremental_new_docs": self.scale.incremental_new,
            "incremental_already_processed_docs": self.results["backfill_points"],
            "incremental_seconds_on_top": many_on_top,
            "incremental_seconds_empty_lake": many_alone,
            "incremental_cost_ratio": many_on_top / many_alone,
            "idle_run_seconds": idle_s,
            "idle_run_share_of_cadence": idle_s / CADENCE_S,
        }

    def memory(self) -> None:
        """Peak RSS of the producer and of the job's driver (process tree) at two volumes."""
        for label, points in zip(("small_volume", "large_volume"), self.scale.memory_points, strict=True):
            settings = self.variant(f"bench_mem_{label}")
            end = START + timedelta(minutes=points // len(ASSETS))
            producer_mb = run_measured(
                [
                    sys.executable,
                    "-m",
                    "market_weather.producer",
                    "backfill",
                    "coincap",
                    "--start",
                    START.isoformat(),
                    "--end",
                    end.isoformat(),
                    "--interval",
                    "m1",
                    "--assets",
                    ",".join(ASSETS),
                ],
                self.env(settings),
            ).peak_mb
            self.restart_spark_connect()
            job, _ = self.job(settings)
            self.results |= {
                f"memory_points_{label}": points,
                f"producer_peak_rss_mb_{label}": producer_mb,
                f"driver_peak_rss_mb_{label}": job.beside_peak_mb,
                f"job_client_peak_rss_mb_{label}": job.peak_mb,
            }
        self.results["producer_peak_rss_mb"] = self.results["producer_peak_rss_mb_large_volume"]
        self.results["driver_peak_rss_mb"] = self.results["driver_peak_rss_mb_large_volume"]
        self.results["job_client_peak_rss_mb"] = self.results["job_client_peak_rss_mb_large_volume"]
        self.results["producer_rss_growth_ratio"] = (
            self.results["producer_peak_rss_mb_large_volume"] / self.results["producer_peak_rss_mb_small_volume"]
        )
        self.results["driver_rss_growth_ratio"] = (
            self.results["driver_peak_rss_mb_large_volume"] / self.results["driver_peak_rss_mb_small_volume"]
        )
        self.results["job_client_rss_growth_ratio"] = (
            self.results["job_client_peak_rss_mb_large_volume"] / self.results["job_client_peak_rss_mb_small_volume"]
        )

    def intake(self) -> None:
        from bench import intake

        intake.measure(self)

    def freshness(self) -> None:
        """In the running stack at a 1-minute cadence: fetched_at -> the run that made the row visible."""
        cycles = self.scale.freshness_cycles
        # As after `make run`: a server just started, warming up while Airflow starts.
        self.restart_spark_connect(warmed=False)
        log("starting Airflow, Mongo Express and pgAdmin on the bench stack")
        self.stack.start(full=True)
        started = datetime.now(UTC)
        deadline = time.monotonic() + (cycles + 4) * CADENCE_S
        samples: list[float] = []
        while time.monotonic() < deadline:
            time.sleep(15)
            samples = self._freshness_samples(started)
            log(f"freshness: {len(samples)} of {cycles} cycles visible")
            if len(samples) >= cycles:
                break
        if len(samples) < 2:
            raise RuntimeError(f"only {len(samples)} cycles reached the warehouse; see {self.stack.log_dir}")
        p95_s = p95(samples)
        loads = self._minute_loads(started)
        self.results |= {
            "freshness_cycles": len(samples),
            "freshness_p50_s": statistics.median(samples),
            "freshness_p95_s": p95_s,
            "freshness_p95_over_cadence": p95_s / CADENCE_S,
            "minute_loads": len(loads),
            "minute_load_p50_seconds": statistics.median(loads),
            "minute_load_p95_seconds": p95(loads),
        }

    def _minute_loads(self, since: datetime) -> list[float]:
        """The seconds of each scheduled load that succeeded since `since`: the `load_warehouse` task of
        `lake_to_warehouse`, as Airflow's task view shows it (its duration, from Airflow's REST API)."""
        s = self.settings
        base = f"http://127.0.0.1:{s.AIRFLOW_UI_PORT}"
        login = {"username": s.AIRFLOW_ADMIN_USER, "password": s.AIRFLOW_ADMIN_PASSWORD.get_secret_value()}
        token = requests.post(f"{base}/auth/token", json=login, timeout=10)
        token.raise_for_status()
        answer = requests.get(
            f"{base}/api/v2/dags/lake_to_warehouse/dagRuns/~/taskInstances",
            params={
                "task_id": "load_warehouse",
                "state": "success",
                "start_date_gte": since.isoformat(),
                "limit": "100",
            },
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=30,
        )
        answer.raise_for_status()
        loads = [ti["duration"] for ti in answer.json()["task_instances"] if ti["duration"] is not None]
        if not loads:
            raise RuntimeError(f"no scheduled load succeeded since {since:%H:%M:%S}; see {self.stack.log_dir}")
        return loads

    def _freshness_samples(self, since: datetime) -> list[float]:
        with MongoClient(self.settings.MONGO_URI, tz_aware=True, document_class=dict) as client:
            fetched = sorted(
                {
                    d["fetched_at"]
                    for d in client[self.settings.MONGO_DB]["coincap_assets"].find(
                        {"fetched_at": {"$gte": since}}, {"fetched_at": 1}
                    )
                }
            )
        with psycopg.connect(**self.settings.postgres_conninfo) as conn:
            runs = conn.execute(
                "SELECT watermark_to, finished_at FROM etl_runs WHERE status = 'success' "
                "AND watermark_to IS NOT NULL ORDER BY finished_at"
            ).fetchall()
        samples = []
        for moment in fetched:
            visible = next((finished for watermark, finished in runs if watermark >= moment), None)
            if visible is not None:
                samples.append((visible - moment).total_seconds())
        return samples

    # ---------------------------------------------------------------------------------- run
    def machine(self) -> dict:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
        with psycopg.connect(**self.settings.postgres_conninfo) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]
        from importlib.metadata import version

        return {
            "cpus": os.cpu_count(),
            "cpu_model": next(
                (
                    line.split(":", 1)[1].strip()
                    for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")
                ),
                platform.processor(),
            ),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(),
            "python": platform.python_version(),
            "java": java,
            "lake_server": lake_server.chosen(self.settings).name,
            "versions": {
                name: version(name) for name in ("pyspark", "apache-airflow", "secantusdb", "pymongo", "psycopg")
            }
            | {"postgresql": pg},
        }

    def run(self) -> Path:
        log(f"bench scale {self.scale_name}: {asdict(self.scale)}")
        if self.figures != FIGURES:
            log(f"figures: {', '.join(self.figures)} (BENCH_ONLY)")
        with sigterm_as_exit(), self.stack_running():
            self.measure()
            machine = self.machine()
        return self.write(machine)

    @contextmanager
    def stack_running(self) -> Iterator[None]:
        """The bench stack, started empty and stopped however the run ends: done, failed (its own start
        too), Ctrl-C or SIGTERM. BENCH_KEEP=1 leaves it running to look into."""
        # From an empty lake and warehouse every time: the lake server does not give back the space of
        # dropped databases, and a lake grown by earlier runs writes several times slower.
        self.stack.clean()
        supervisord = None
        try:
            self.stack.start(spark=True)
            supervisord = self.supervisord()
            yield
        finally:
            self.stop_stack(supervisord or self.supervisord())

    def supervisord(self) -> psutil.Process | None:
        """The bench stack's supervisord while it runs, known by its pid file and its configuration."""
        try:
            process = psutil.Process(int((self.stack.state_dir / "supervisord.pid").read_text()))
            return process if str(self.stack.conf_path) in process.cmdline() else None
        except (OSError, ValueError, psutil.Error):
            return None

    def stop_stack(self, supervisord: psutil.Process | None) -> None:
        if os.environ.get("BENCH_KEEP"):
            log(f"BENCH_KEEP is set: the bench stack keeps running in {self.stack.state_dir} (make stop stops it)")
            return
        log("stopping the bench stack")
        try:
            self.stack.stop()
        finally:
            if supervisord is not None and running(supervisord):
                stop_by_pid(supervisord)

    def measure(self) -> None:
        """The figures of the run in turn; a failed one ends the run but keeps what was measured before it."""
        steps = {
            "lake_servers": ("lake servers: SecantusDB's Python and Rust servers side by side", self.lake_servers),
            "lake_ingest": ("lake ingest: producer write path vs raw insert_many", self.lake_ingest),
            "backfill": (
                f"backfill: {self.scale.backfill_points} simulated points through lake -> Spark -> warehouse",
                self.backfill,
            ),
            "dashboard": ("dashboard: p50 and p95 per endpoint and per page over the backfill", self.dashboard),
            "warehouse_load": ("warehouse load: staging + merge vs COPY vs execute_batch", self._warehouse_load),
            "memory": ("memory at two volumes", self.memory),
            "incremental_and_idle": ("incremental and idle runs (cold start, as scheduled)", self.incremental_and_idle),
            "intake": ("files in: upload -> lake against the raw floors at two sizes, drop -> warehouse", self.intake),
            "freshness": ("freshness in the running stack", self.freshness),
        }
        try:
            for name in self.figures:
                message, figure = steps[name]
                log(message)
                figure()
        except Exception as exc:
            # Keep what was measured: a late failure must not throw away the earlier figures.
            self.results["error"] = f"{type(exc).__name__}: {exc}"
            log(f"stopped early: {self.results['error']}")

    def _warehouse_load(self) -> None:
        # A session on the stack's server, as the job's: its staging streams the server's Arrow batches. (The
        # bench process holds remote sessions only from here on; its loads run in processes of their own.)
        spark = connect.remote_session(self.settings)
        try:
            self.warehouse_load(spark)
        finally:
            spark.stop()

    def write(self, machine: dict) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        report = {
            "timestamp": stamp,
            "scale": self.scale_name,
            "scale_parameters": asdict(self.scale),
            "figures": list(self.figures),
            "machine": machine,
            "data_sizes": self.sizes,
            "results": self.results,
        }
        path = RESULTS / f"{stamp}.json"
        path.write_text(json.dumps(report, indent=2, default=str))
        path.with_suffix(".md").write_text(markdown(report))
        return path


ROWS = [
    (
        "lake_servers_ingest_speedup",
        "the producer's lake ingest, SecantusDB's Rust server ÷ its Python server",
        "ratio",
    ),
    ("lake_ingest_ratio", "producer write path ÷ raw insert_many, the lake's indexes on both (docs/s)", "ratio"),
    ("warehouse_load_ratio", "staging + merge ÷ raw COPY (rows/s)", "ratio"),
    ("peer_speedup", "staging + merge ÷ row-by-row execute_batch (rows/s)", "ratio"),
    ("backfill_points_per_s", "simulated history through lake → Spark → warehouse", "points/s"),
    ("backfill_floor_ratio", "that ÷ the slower raw floor (lake read, warehouse COPY)", "ratio"),
    (
        "post_backfill_incremental_ratio",
        "10 new docs, the first load 2 min after the backfill's ÷ on a lake with no backfill (wall time)",
        "ratio",
    ),
    ("job_over_floor", "the job on the backfill, its session's start apart ÷ (raw lake read + raw COPY)", "ratio"),
    ("incremental_cost_ratio", "10k new docs on top of the backfill ÷ on a lake with no backfill (wall time)", "ratio"),
    ("idle_run_seconds", "job with nothing new, cold start", "s"),
    ("idle_run_share_of_cadence", "that ÷ the 1-minute cadence", "ratio"),
    ("minute_load_p50_seconds", "a minute's load in the running stack (its load_warehouse task), median", "s"),
    ("minute_load_p95_seconds", "same, 95th percentile", "s"),
    ("freshness_p50_s", "fetched_at → visible in the warehouse, median", "s"),
    ("freshness_p95_s", "same, 95th percentile", "s"),
    ("freshness_p95_over_cadence", "p95 ÷ the 1-minute cadence", "ratio"),
    ("producer_peak_rss_mb", "producer peak RSS, larger volume", "MB"),
    ("producer_rss_growth_ratio", "producer peak RSS, larger ÷ smaller volume", "ratio"),
    ("driver_peak_rss_mb", "the loads' driver (the Spark Connect server's JVM, fresh) peak RSS, larger volume", "MB"),
    ("driver_rss_growth_ratio", "driver peak RSS, larger ÷ smaller volume", "ratio"),
    ("job_client_peak_rss_mb", "the job's own process (its Spark Connect client) peak RSS, larger volume", "MB"),
    ("job_client_rss_growth_ratio", "that, larger ÷ smaller volume", "ratio"),
    (
        "intake_floor_ratio",
        "files in: upload → lake ÷ the slower raw floor (csv read, insert_many), rows/s, worse size",
        "ratio",
    ),
    ("intake_mb_per_s_small_file", "upload → lake of the smaller file", "MB/s"),
    ("intake_mb_per_s_large_file", "upload → lake of the larger file", "MB/s"),
    ("intake_drop_to_warehouse_rows_per_s", "the smaller file dropped in the inbox → in the warehouse", "rows/s"),
    ("intake_peak_rss_mb_large_file", "the intake service's peak RSS, larger file", "MB"),
    ("intake_rss_growth_ratio", "that, larger ÷ smaller file", "ratio"),
    (
        "dashboard_worst_page_p95_ms",
        "dashboard over the backfill: the slowest page's whole refresh (its API calls as its script makes them), p95",
        "ms",
    ),
    ("dashboard_worst_page_p95_share_of_second", "that ÷ 1 s", "ratio"),
]


# Each figure's goal: at most, or at least, a bound. "No worse than today" is the figure of the last whole run at the
# default scale before the loads moved to the Spark Connect server (TODAY), on the same lake server.
TODAY = "20261206T161445Z"
GOALS: dict[str, tuple[str, float]] = {
    "lake_ingest_ratio": ("≥", 0.9),
    "warehouse_load_ratio": ("≥", 0.5),
    "peer_speedup": ("≥", 5.0),
    "backfill_floor_ratio": ("≥", 0.5),
    "post_backfill_incremental_ratio": ("≤", 1.009),  # TODAY's
    "job_over_floor": ("≤", 2.0),
    "incremental_cost_ratio": ("≤", 0.841),  # TODAY's
    "idle_run_seconds": ("≤", 2.0),
    "minute_load_p50_seconds": ("≤", 5.0),
    "minute_load_p95_seconds": ("≤", 5.0),
    "freshness_p95_over_cadence": ("≤", 0.25),
    "producer_rss_growth_ratio": ("≤", 1.1),
    "driver_rss_growth_ratio": ("≤", 1.1),
    "intake_floor_ratio": ("≥", 0.5),
    "intake_rss_growth_ratio": ("≤", 1.1),
    "dashboard_worst_page_p95_share_of_second": ("≤", 1.0),
}


def goal(key: str, value: float | None) -> str:
    """The figure's goal and whether `value` meets it ("" when it has none)."""
    if key not in GOALS:
        return ""
    op, bound = GOALS[key]
    text = f"{op} {bound:g}"
    if value is None:
        return text
    met = value <= bound if op == "≤" else value >= bound
    return f"{text}: {'met' if met else '**not met**'}"


def markdown(report: dict) -> str:
    r, m = report["results"], report["machine"]
    figures = report.get("figures", list(FIGURES))
    lines = [
        f"Bench {report['timestamp']}, scale `{report['scale']}`: {m['cpus']} CPUs ({m['cpu_model']}), "
        f"{m['memory_gb']} GB, Python {m['python']}, PySpark {m['versions']['pyspark']}, "
        f"PostgreSQL {m['versions']['postgresql']}, the lake on "
        f"{m.get('lake_server', 'SecantusDB Python server')} (SecantusDB {m['versions']['secantusdb']}).",
        "",
        "Figures run: all."
        if list(figures) == list(FIGURES)
        else f"Figures run (BENCH_ONLY): {', '.join(f'`{name}`' for name in figures)}; the others are not measured.",
        "",
        "| figure | what | value | goal |",
        "|---|---|---|---|",
    ]
    for key, what, unit in ROWS:
        if key not in r:
            lines.append(f"| `{key}` | {what} | not measured | {goal(key, None)} |")
            continue
        value = r[key]
        shown = (
            f"{value:,.0f}"
            if unit in ("points/s", "rows/s")
            else f"{value:,.2f}"
            if unit != "ratio"
            else f"{value:.3f}"
        )
        lines.append(f"| `{key}` | {what} | {shown} {'' if unit == 'ratio' else unit} | {goal(key, value)} |")
    lines += ["", f"A goal of a figure that is to be no worse than today holds its value in {TODAY}.", ""]
    # Each figure's details when it was measured (its results are recorded together, at its end).
    if "backfill_points" in r:
        lines.append(
            f"Backfill: {r['backfill_points']:,} points in {r['backfill_seconds']:.0f} s "
            f"(producer {r['backfill_producer_seconds']:.0f} s, job {r['backfill_job_seconds']:.0f} s, of which Spark "
            f"session {r['backfill_job_spark_start_seconds']:.1f} s; by phase {r['backfill_job_phase_seconds']}; the "
            f"server's peak RSS {r.get('backfill_driver_peak_rss_mb', 0):,.0f} MB); "
            f"floors: lake read "
            f"{r['lake_read_points_per_s']:,.0f} points/s, warehouse COPY {r['warehouse_copy_rows_per_s']:,.0f} rows/s."
        )
    if "warehouse_load_rows" in r:
        lines.append(
            f"Warehouse load of {r['warehouse_load_rows']:,} rows: ours {r['warehouse_load_rows_per_s']:,.0f} rows/s, "
            f"COPY {r['warehouse_copy_rows_per_s_same_rows']:,.0f}, "
            f"execute_batch {r['peer_execute_batch_rows_per_s']:,.0f} "
            f"(ours: staging {r['warehouse_load_staging_seconds']:.2f} s, merge with the OHLC recompute "
            f"{r['warehouse_load_merge_and_ohlc_seconds']:.2f} s)."
        )
    if "lake_ingest_docs" in r:
        lines.append(
            f"Lake ingest of {r['lake_ingest_docs']:,} docs: producer {r['lake_ingest_producer_docs_per_s']:,.0f} "
            f"docs/s, raw insert_many {r['lake_ingest_raw_docs_per_s']:,.0f} docs/s."
        )
    if "lake_servers" in r:
        lines += lake_servers_markdown(r)
    if "driver_rss_growth_ratio" in r:
        lines.append(
            f"Memory: producer {r['producer_peak_rss_mb_small_volume']:.0f} → "
            f"{r['producer_peak_rss_mb_large_volume']:.0f} MB, "
            f"driver {r['driver_peak_rss_mb_small_volume']:.0f} → {r['driver_peak_rss_mb_large_volume']:.0f} MB, "
            f"job client {r['job_client_peak_rss_mb_small_volume']:.0f} → "
            f"{r['job_client_peak_rss_mb_large_volume']:.0f} MB for "
            f"{r['memory_points_small_volume']:,} → {r['memory_points_large_volume']:,} points."
        )
    if "intake_rss_growth_ratio" in r:
        lines += intake_markdown(r)
    if "dashboard_p95_ms" in r:
        lines += dashboard_markdown(r)
    if "error" in r:
        lines += ["", f"The run stopped early: {r['error']}"]
    return "\n".join([*lines, ""])


def intake_markdown(r: dict) -> list[str]:
    lines = [
        "",
        "Files in, a CoinGecko-format CSV (a price a minute) uploaded to the intake service and followed to the lake:",
        "",
    ]
    lines += ["| file | rows | upload → lake | csv floor | insert_many floor | ÷ slower floor | service peak RSS |"]
    lines += ["|---|---|---|---|---|---|---|"]
    for label in ("small_file", "large_file"):
        lines.append(
            f"| {r[f'intake_bytes_{label}'] / 1e6:,.0f} MB | {r[f'intake_rows_{label}']:,} | "
            f"{r[f'intake_rows_per_s_{label}']:,.0f} rows/s ({r[f'intake_mb_per_s_{label}']:.1f} MB/s, "
            f"{r[f'intake_seconds_{label}']:.0f} s) | {r[f'intake_csv_floor_rows_per_s_{label}']:,.0f} rows/s | "
            f"{r[f'intake_insert_floor_rows_per_s_{label}']:,.0f} rows/s | {r[f'intake_floor_ratio_{label}']:.3f} | "
            f"{r[f'intake_peak_rss_mb_{label}']:.0f} MB |"
        )
    if "intake_drop_to_warehouse_seconds" in r:
        lines += [
            "",
            f"The smaller file dropped in the inbox: in the lake after {r['intake_drop_to_lake_seconds']:.1f} s (the "
            f"inbox task), in the warehouse after {r['intake_drop_to_warehouse_seconds']:.1f} s (a load on the Spark "
            f"Connect server), {r['intake_drop_to_warehouse_rows_per_s']:,.0f} rows/s.",
        ]
    return lines


LAKE_SERVER_ROWS = {
    "producer_ingest_docs_per_s": "producer ingest (validate, envelope, bulk write), docs/s",
    "raw_insert_many_docs_per_s": "raw insert_many, batches of a response, unordered, docs/s",
    "range_read_docs_per_s": "raw read of the backfill on an _id range, the job's fields, docs/s",
    "count_seconds": "count_documents of the backfill's collection, s",
    "count_range_seconds": "count_documents on that _id range, s",
    "backfill_producer_seconds": "backfill: the producer's backfill command, s",
    "job_plan_seconds": "backfill: the job's plan phase, s",
    "job_read_seconds": "backfill: the job's read phase (the tally of its window), s",
    "job_seconds": "backfill: the whole job, its session's start included, s",
    "backfill_seconds": "backfill end to end (producer + job), s",
}


def lake_servers_markdown(r: dict) -> list[str]:
    python, rust, speedup = r["lake_servers"]["python"], r["lake_servers"]["rust"], r["lake_servers_rust_over_python"]
    lines = [
        "",
        f"Lake servers side by side, each over an empty folder beside the stack, with logins, as the stack runs it: "
        f"{r['lake_servers_ingest_docs']:,} docs ingested, a backfill of {r['lake_servers_backfill_points']:,} "
        f"points. Rust ÷ Python: how many times faster the Rust server is.",
        "",
        "| operation | Python server | Rust server | Rust ÷ Python |",
        "|---|---|---|---|",
    ]
    for name, what in LAKE_SERVER_ROWS.items():
        times = f"{speedup[name]:.2f}×" if name in speedup else "n/a"
        lines.append(f"| {what} | {python[name]:,.2f} | {rust[name]:,.2f} | {times} |")
    return [*lines, ""]


def dashboard_markdown(r: dict) -> list[str]:
    lines = [
        "",
        f"Dashboard over the backfill's warehouse ({r.get('backfill_points', 0):,} points): "
        f"up to {r['dashboard_timed_requests']} timed requests per endpoint (n: fewer once they took "
        f"{DASHBOARD_TIME_LIMIT_S:.0f} s), one at a time after {DASHBOARD_WARMUP} warm-ups, and as many whole "
        f"refreshes per page (its steps one after the other, a step's requests at once); wall time of the "
        f'complete answer; p95 = statistics.quantiles(samples, n=20, method="inclusive")[18]. '
        f"Slowest page: `{r['dashboard_worst_page']}`. The lake's documents and newest fetches are counted in "
        f"the background: {r['dashboard_lake_counting_seconds']:.2f} s per count, at most every "
        f"max(30 s, 10 × that); the first request after the start answered without them in "
        f"{r['dashboard_first_lake_request_ms']:,.0f} ms.",
        "",
        "| request | n | p50 ms | p95 ms | answer KB |",
        "|---|---|---|---|---|",
    ]
    n = r["dashboard_samples"]
    for label, p95_ms in r["dashboard_p95_ms"].items():
        size = r["dashboard_answer_bytes"][label] / 1024
        p50_ms = r["dashboard_p50_ms"][label]
        lines.append(f"| `/api/{label}` | {n[label]} | {p50_ms:.1f} | {p95_ms:.1f} | {size:,.1f} |")
    for page, p95_ms in r["dashboard_page_p95_ms"].items():
        steps, p50_ms = r["dashboard_page_requests"][page], r["dashboard_page_p50_ms"][page]
        lines.append(f"| page `{page}`: {steps} | {n[page]} | {p50_ms:.1f} | {p95_ms:.1f} | |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    # Its choices are settings (BENCH_SCALE, BENCH_ONLY), as `make bench` passes them: no argument starts a run
    # by mistake, and --help says so.
    argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args(argv)
    scale = os.environ.get("BENCH_SCALE", "default")
    if scale not in SCALES:
        print(f"error: BENCH_SCALE must be one of {', '.join(SCALES)}", file=sys.stderr)
        return 2
    try:
        figures, notes = select_figures(os.environ.get("BENCH_ONLY", ""))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in notes:
        log(note)
    try:
        path = Bench(scale, figures=figures).run()
    except KeyboardInterrupt:
        print("interrupted: no report written", file=sys.stderr)
        return 130
    print(path.with_suffix(".md").read_text())
    print(f"report: {path}")
    return 1 if "error" in json.loads(path.read_text())["results"] else 0


if __name__ == "__main__":
    sys.exit(main())
