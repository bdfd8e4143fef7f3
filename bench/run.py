"""`make bench`: the pipeline measured against its physical floors and the usual alternative.

A suite, not tests: nothing passes or fails on time. Every figure is measured side by side in one
run on a bench stack of its own (LOCAL_STATE_DIR/bench, free ports), and reported as a ratio where
one applies, so it holds on a noisy machine. Writes bench/results/<UTC timestamp>.json and .md.

BENCH_SCALE=small finishes in about a quarter of an hour on two cores; the default scale is the one the
README quotes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import psutil
import psycopg
import psycopg2
import psycopg2.extras
from pymongo import MongoClient
from pyspark.sql import types as T

from market_weather.contract import ASSET_PRICES, COINCAP_HISTORY
from market_weather.job import loader
from market_weather.job.session import spark_session
from market_weather.lake import LakeWriter, ensure_lake_indexes
from market_weather.producer import records, source_to_lake
from market_weather.producer.simulated import SimulatedCoinCap
from market_weather.settings import PROJECT_ROOT, Settings, get_settings
from market_weather.stack.services import PG_SUPERUSER, bench_stack
from market_weather.times import split_range
from market_weather.warehouse import merge, runs
from market_weather.warehouse.migrate import migrate

RESULTS = PROJECT_ROOT / "bench" / "results"
CADENCE_S = 60
# The first load after a backfill's, as the schedule would run it: a minute's few documents, two minutes on.
POST_BACKFILL_NEW_DOCS = 10
POST_BACKFILL_WAIT_S = 120
START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Scale:
    ingest_docs: int
    load_rows: int
    backfill_points: int
    incremental_new: int
    memory_points: tuple[int, int]
    freshness_cycles: int


SCALES = {
    "small": Scale(20_000, 50_000, 150_000, 10_000, (30_000, 150_000), 3),
    "default": Scale(100_000, 300_000, 2_000_000, 10_000, (100_000, 500_000), 10),
}
ASSETS = ["bitcoin", "ethereum", "tether", "binance-coin", "solana", "xrp", "cardano", "dogecoin"]


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


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


def run_measured(argv: list[str], env: dict[str, str]) -> Measured:
    """Run a command to its end, measured. Interrupted, the bench ends the command too rather than leave
    it running."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with PeakRss(proc.pid) as rss:
        try:
            out, err = proc.communicate()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{(out + err)[-3000:]}")
    return Measured(time.perf_counter() - start, rss.peak / 2**20, out)


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
    def __init__(self, scale_name: str, base: Settings | None = None):
        """A bench whose stack lives in the bench folder of `base`'s LOCAL_STATE_DIR (the environment's settings
        by default)."""
        self.scale_name, self.scale = scale_name, SCALES[scale_name]
        self.stack = bench_stack(
            base or get_settings(),
            COINCAP_ASSETS="bitcoin,ethereum",
            OPENWEATHER_LOCATIONS="paris:Paris:48.8566:2.3522",
            INGEST_COINCAP_SCHEDULE="* * * * *",
            SPARK_MASTER="local[*]",
        )
        self.settings = self.stack.settings
        self.results: dict = {}
        self.backfill_loaded_at = time.monotonic()
        self.sizes: dict = {}

    # ------------------------------------------------------------------------------ plumbing
    def variant(self, name: str) -> Settings:
        """Settings for a fresh lake database and warehouse database called `name`."""
        with psycopg.connect(
            host=str(self.stack.pg_run),
            port=self.settings.POSTGRES_PORT,
            user=PG_SUPERUSER,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" OWNER "{self.settings.POSTGRES_USER}"')
        settings = self.settings.model_copy(update={"POSTGRES_DB": name, "MONGO_DB": name})
        migrate(settings)
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            client.drop_database(name)
            ensure_lake_indexes(client[name])
        return settings

    def env(self, settings: Settings) -> dict[str, str]:
        return {**os.environ, **settings.as_environment(), "PYSPARK_PYTHON": sys.executable}

    def history(self, settings: Settings, points: int, start: datetime = START) -> int:
        """Simulated m1 history of `points` points spread over the assets, written by the producer."""
        per_asset = points // len(ASSETS)
        end = start + timedelta(minutes=per_asset)
        with MongoClient(settings.MONGO_URI, document_class=dict) as client:
            counts = source_to_lake.backfill_coincap(
                SimulatedCoinCap(1),
                LakeWriter(client[settings.MONGO_DB]),
                ASSETS,
                start,
                end,
                "m1",
                "bench",
                progress=True,
            )
        return counts.inserted

    def job(self, settings: Settings) -> tuple[float, float, dict]:
        """One run of the job as the scheduler starts it: wall time, peak RSS (MB) and its run summary."""
        seconds, peak_mb, out = run_measured(
            [sys.executable, "-m", "market_weather.job.lake_to_warehouse"], self.env(settings)
        )
        return seconds, peak_mb, json.loads(out[out.index("{") :])

    # ----------------------------------------------------------------------------- figures
    def lake_ingest(self) -> None:
        """Producer write path (validate, envelope, unordered bulk writes) vs raw insert_many."""
        n = self.scale.ingest_docs
        source = SimulatedCoinCap(2)
        first = int(START.timestamp() * 1000)
        responses = [
            source.history("bitcoin", "m1", lo, hi) for lo, hi in split_range(first, first + n * 60_000, 86_400_000)
        ]
        settings = self.variant("bench_ingest")
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
            raw.create_index([("entity_id", 1), ("observed_at", 1)], unique=True)
            raw.create_index([("fetched_at", 1)])
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
        self.results |= {
            "lake_ingest_docs": n,
            "lake_ingest_producer_docs_per_s": n / times["producer"],
            "lake_ingest_raw_docs_per_s": n / times["raw"],
            "lake_ingest_ratio": times["raw"] / times["producer"],
        }

    def backfill(self) -> None:
        """A long simulated history through lake -> Spark -> warehouse, against the raw floors."""
        settings = self.main = self.variant("bench_main")
        times: dict = {}
        with timed(times, "producer"):
            points = self.history(settings, self.scale.backfill_points)
        job_s, _, summary = self.job(settings)
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
            "backfill_points_per_s": points / total,
            **floors,
            "backfill_floor_ratio": (points / total) / min(floors.values()),
        }

    def warehouse_load(self, spark) -> None:
        """The job's staging + merge vs raw COPY vs a row-by-row execute_batch insert, same rows."""
        m = self.scale.load_rows
        with psycopg.connect(**self.main.postgres_conninfo) as conn:
            rows = conn.execute(
                f"SELECT {', '.join(ASSET_PRICES.columns)} FROM asset_prices ORDER BY asset_id, observed_at LIMIT %s",
                [m],
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
                loader.write_staging(df, staged["asset_prices"], settings)
            with timed(times, "merge"):
                merge.merge_and_commit(conn, "bench-load", staged, None, m, 0)
            times["ours"] = times["staging"] + times["merge"]
            merge.drop_staging(conn, "bench-load")
            conn.execute("CREATE TABLE bench_copy (LIKE asset_prices INCLUDING ALL)")
            conn.execute("CREATE TABLE bench_peer (LIKE asset_prices INCLUDING ALL)")
            with timed(times, "copy"):
                with conn.cursor().copy(f"COPY bench_copy ({', '.join(ASSET_PRICES.columns)}) FROM STDIN") as copy_in:
                    for row in rows:
                        copy_in.write_row(row)
        columns = ", ".join(ASSET_PRICES.columns)
        peer = psycopg2.connect(
            host=settings.POSTGRES_HOST,
            port=settings.POSTGRES_PORT,
            dbname=settings.POSTGRES_DB,
            user=settings.POSTGRES_USER,
            password=settings.POSTGRES_PASSWORD.get_secret_value(),
        )
        with peer, peer.cursor() as cur, timed(times, "peer"):
            psycopg2.extras.execute_batch(
                cur,
                f"INSERT INTO bench_peer ({columns}) VALUES ({', '.join(['%s'] * len(ASSET_PRICES.columns))}) "
                "ON CONFLICT (asset_id, observed_at) DO NOTHING",
                rows,
                page_size=100,
            )
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
            few_s, _, few = self.job(settings)
            self.history(settings, self.scale.incremental_new, start=later + timedelta(days=30))
            seconds[name] = (few_s, self.job(settings)[0])
            self.results[f"post_backfill_rows_read_{name}"] = few["rows_read"]
        idle_s, _, _ = self.job(self.main)
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
            _, producer_mb, _ = run_measured(
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
            )
            _, driver_mb, _ = self.job(settings)
            self.results |= {
                f"memory_points_{label}": points,
                f"producer_peak_rss_mb_{label}": producer_mb,
                f"driver_peak_rss_mb_{label}": driver_mb,
            }
        self.results["producer_peak_rss_mb"] = self.results["producer_peak_rss_mb_large_volume"]
        self.results["driver_peak_rss_mb"] = self.results["driver_peak_rss_mb_large_volume"]
        self.results["producer_rss_growth_ratio"] = (
            self.results["producer_peak_rss_mb_large_volume"] / self.results["producer_peak_rss_mb_small_volume"]
        )
        self.results["driver_rss_growth_ratio"] = (
            self.results["driver_peak_rss_mb_large_volume"] / self.results["driver_peak_rss_mb_small_volume"]
        )

    def freshness(self) -> None:
        """In the running stack at a 1-minute cadence: fetched_at -> the run that made the row visible."""
        cycles = self.scale.freshness_cycles
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
        p95 = statistics.quantiles(samples, n=20, method="inclusive")[-1]
        self.results |= {
            "freshness_cycles": len(samples),
            "freshness_p50_s": statistics.median(samples),
            "freshness_p95_s": p95,
            "freshness_p95_over_cadence": p95 / CADENCE_S,
        }

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
            "versions": {
                name: version(name) for name in ("pyspark", "apache-airflow", "secantusdb", "pymongo", "psycopg")
            }
            | {"postgresql": pg},
        }

    def run(self) -> Path:
        log(f"bench scale {self.scale_name}: {asdict(self.scale)}")
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
            self.stack.start()
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
        """Every figure in turn; a failed one ends the run but keeps what was measured before it."""
        try:
            log("lake ingest: producer write path vs raw insert_many")
            self.lake_ingest()
            log(f"backfill: {self.scale.backfill_points} simulated points through lake -> Spark -> warehouse")
            self.backfill()
            log("warehouse load: staging + merge vs COPY vs execute_batch")
            spark = spark_session(self.settings, app_name="bench")
            try:
                self.warehouse_load(spark)
            finally:
                spark.stop()
            log("memory at two volumes")
            self.memory()
            log("incremental and idle runs (cold start, as scheduled)")
            self.incremental_and_idle()
            log("freshness in the running stack")
            self.freshness()
        except Exception as exc:
            # Keep what was measured: a late failure must not throw away the earlier figures.
            self.results["error"] = f"{type(exc).__name__}: {exc}"
            log(f"stopped early: {self.results['error']}")

    def write(self, machine: dict) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        report = {
            "timestamp": stamp,
            "scale": self.scale_name,
            "scale_parameters": asdict(self.scale),
            "machine": machine,
            "data_sizes": self.sizes,
            "results": self.results,
        }
        path = RESULTS / f"{stamp}.json"
        path.write_text(json.dumps(report, indent=2, default=str))
        path.with_suffix(".md").write_text(markdown(report))
        return path


ROWS = [
    ("lake_ingest_ratio", "producer write path ÷ raw insert_many (docs/s)", "ratio"),
    ("warehouse_load_ratio", "staging + merge ÷ raw COPY (rows/s)", "ratio"),
    ("peer_speedup", "staging + merge ÷ row-by-row execute_batch (rows/s)", "ratio"),
    ("backfill_points_per_s", "simulated history through lake → Spark → warehouse", "points/s"),
    ("backfill_floor_ratio", "that ÷ the slower raw floor (lake read, warehouse COPY)", "ratio"),
    (
        "post_backfill_incremental_ratio",
        "10 new docs, the first load 2 min after the backfill's ÷ on a lake with no backfill (wall time)",
        "ratio",
    ),
    ("job_over_floor", "the job on the backfill, Spark start apart ÷ (raw lake read + raw COPY)", "ratio"),
    ("incremental_cost_ratio", "10k new docs on top of the backfill ÷ on a lake with no backfill (wall time)", "ratio"),
    ("idle_run_seconds", "job with nothing new, cold start", "s"),
    ("idle_run_share_of_cadence", "that ÷ the 1-minute cadence", "ratio"),
    ("freshness_p50_s", "fetched_at → visible in the warehouse, median", "s"),
    ("freshness_p95_s", "same, 95th percentile", "s"),
    ("freshness_p95_over_cadence", "p95 ÷ the 1-minute cadence", "ratio"),
    ("producer_peak_rss_mb", "producer peak RSS, larger volume", "MB"),
    ("producer_rss_growth_ratio", "producer peak RSS, larger ÷ smaller volume", "ratio"),
    ("driver_peak_rss_mb", "job driver peak RSS (Python + JVM), larger volume", "MB"),
    ("driver_rss_growth_ratio", "driver peak RSS, larger ÷ smaller volume", "ratio"),
]


def markdown(report: dict) -> str:
    r, m = report["results"], report["machine"]
    lines = [
        f"Bench {report['timestamp']}, scale `{report['scale']}`: {m['cpus']} CPUs ({m['cpu_model']}), "
        f"{m['memory_gb']} GB, Python {m['python']}, PySpark {m['versions']['pyspark']}, "
        f"PostgreSQL {m['versions']['postgresql']}, SecantusDB {m['versions']['secantusdb']}.",
        "",
        "| figure | what | value |",
        "|---|---|---|",
    ]
    for key, what, unit in ROWS:
        if key not in r:
            lines.append(f"| `{key}` | {what} | not measured |")
            continue
        value = r[key]
        shown = f"{value:,.0f}" if unit == "points/s" else f"{value:,.2f}" if unit != "ratio" else f"{value:.3f}"
        lines.append(f"| `{key}` | {what} | {shown} {'' if unit == 'ratio' else unit} |")
    if "error" in r:
        return "\n".join(lines + ["", f"The run stopped early: {r['error']}", ""])
    lines += [
        "",
        f"Backfill: {r['backfill_points']:,} points in {r['backfill_seconds']:.0f} s "
        f"(producer {r['backfill_producer_seconds']:.0f} s, job {r['backfill_job_seconds']:.0f} s, of which Spark "
        f"start {r['backfill_job_spark_start_seconds']:.1f} s; by phase {r['backfill_job_phase_seconds']}); "
        f"floors: lake read "
        f"{r['lake_read_points_per_s']:,.0f} points/s, warehouse COPY {r['warehouse_copy_rows_per_s']:,.0f} rows/s.",
        f"Warehouse load of {r['warehouse_load_rows']:,} rows: ours {r['warehouse_load_rows_per_s']:,.0f} rows/s, "
        f"COPY {r['warehouse_copy_rows_per_s_same_rows']:,.0f}, "
        f"execute_batch {r['peer_execute_batch_rows_per_s']:,.0f} "
        f"(ours: staging {r['warehouse_load_staging_seconds']:.2f} s, merge with the OHLC recompute "
        f"{r['warehouse_load_merge_and_ohlc_seconds']:.2f} s).",
        f"Lake ingest of {r['lake_ingest_docs']:,} docs: producer {r['lake_ingest_producer_docs_per_s']:,.0f} docs/s, "
        f"raw insert_many {r['lake_ingest_raw_docs_per_s']:,.0f} docs/s.",
        f"Memory: producer {r['producer_peak_rss_mb_small_volume']:.0f} → "
        f"{r['producer_peak_rss_mb_large_volume']:.0f} MB, "
        f"driver {r['driver_peak_rss_mb_small_volume']:.0f} → {r['driver_peak_rss_mb_large_volume']:.0f} MB for "
        f"{r['memory_points_small_volume']:,} → {r['memory_points_large_volume']:,} points.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    scale = os.environ.get("BENCH_SCALE", "default")
    if scale not in SCALES:
        print(f"error: BENCH_SCALE must be one of {', '.join(SCALES)}", file=sys.stderr)
        return 2
    try:
        path = Bench(scale).run()
    except KeyboardInterrupt:
        print("interrupted: no report written", file=sys.stderr)
        return 130
    print(path.with_suffix(".md").read_text())
    print(f"report: {path}")
    return 1 if "error" in json.loads(path.read_text())["results"] else 0


if __name__ == "__main__":
    sys.exit(main())
