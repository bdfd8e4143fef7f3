"""The intake figure of `make bench`: files taken in, at two sizes, against their raw floors.

At each size a CoinGecko-format CSV (a price a minute: CoinGecko's shape with the most rows per byte, the dearest
case per megabyte) is uploaded to the intake service, a process of its own as the stack runs it, streamed as a
browser sends it, and followed until its rows are in the lake. Against it, on the same file: reading it with
Python's `csv` module, and `insert_many` of the documents the intake lands (built before the clock starts, into a
collection with the lake's indexes, on a slice of up to FLOOR_ROWS rows: a rate). The figure is the slower floor's
share the intake reaches, in rows/s (and so in MB/s). The service's peak RSS (its process tree) at each size gives
the growth ratio. At the smaller size, the file is also dropped in the inbox and taken by the inbox DAG's own
task, then loaded by the job as a scheduled load is: rows/s from the drop to the warehouse (Airflow's scheduling
apart, which the platform test measures).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import requests
from pymongo import MongoClient

from market_weather.intake import inbox, rows
from market_weather.intake.formats import Format, Line
from market_weather.lake import ensure_raw_indexes
from market_weather.settings import PROJECT_ROOT, Settings
from market_weather.stack.ports import free_port

if TYPE_CHECKING:
    from bench.run import Bench

FIRST_MINUTE = datetime(2010, 7, 18, tzinfo=UTC)
FLOOR_ROWS = 500_000
UPLOAD_CHUNK = 1024 * 1024
LOGIN = ("bench", "bench-intake")


def coingecko_file(path: Path, size: int) -> int:
    """A CoinGecko-format export of about `size` bytes, a price a minute from FIRST_MINUTE; its rows."""
    count = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("snapped_at,price,market_cap,total_volume\n")
        written, moment, step = 0, FIRST_MINUTE, timedelta(minutes=1)
        while written < size:
            price = 60_000 + (count % 9_973) * 0.37
            line = f"{moment:%Y-%m-%d %H:%M:%S} UTC,{price:.2f},{price * 19_800_000:.1f},{35_000_000_000 + count}.0\n"
            out.write(line)
            written += len(line)
            moment += step
            count += 1
    return count


def csv_floor(path: Path) -> float:
    """Seconds to read the file's rows with Python's csv module."""
    start = time.perf_counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for _ in csv.reader(handle):
            pass
    return time.perf_counter() - start


def insert_floor(settings: Settings, path: Path, rows_wanted: int) -> tuple[int, float]:
    """(rows, seconds) of insert_many of the documents the intake lands for the file's first rows."""
    envelope = rows.FileEnvelope("bench-floor", Format.COINGECKO_CSV, datetime.now(UTC))
    documents = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for number, fields in enumerate(reader, start=2):
            documents.append(rows.coingecko_document(envelope, "bitcoin", Line(number, dict(fields))))
            if len(documents) >= rows_wanted:
                break
    with MongoClient(settings.MONGO_URI, document_class=dict) as client:
        collection = client[settings.MONGO_DB]["floor_insert"]
        collection.drop()
        ensure_raw_indexes(collection)
        start = time.perf_counter()
        for offset in range(0, len(documents), 5_000):  # the batches the intake writes
            collection.insert_many(documents[offset : offset + 5_000], ordered=False)
        seconds = time.perf_counter() - start
        collection.drop()
    return len(documents), seconds


def multipart(path: Path, boundary: str) -> Iterator[bytes]:
    """The file as a multipart body, read a chunk at a time (sent chunked, as a streaming client sends it)."""
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="btc-usd-max.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    with path.open("rb") as handle:
        while chunk := handle.read(UPLOAD_CHUNK):
            yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


class IntakeService:
    """`python -m market_weather.intake` on the bench's lake, as the stack runs it."""

    def __init__(self, settings: Settings, files_dir: Path, limit: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            **settings.as_environment(),
            "INTAKE_PORT": str(self.port),
            "INTAKE_USER": LOGIN[0],
            "INTAKE_PASSWORD": LOGIN[1],
            "FILES_DIR": str(files_dir),
            "FILE_MAX_BYTES": str(limit),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "market_weather.intake"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/api/health", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the intake service did not start")
            time.sleep(0.3)

    def upload(self, path: Path) -> dict:
        """Upload `path` and follow it to `in_lake`: its document."""
        boundary = "bench-boundary-7d1f"
        answer = requests.post(
            f"{self.url}/api/files",
            data=multipart(path, boundary),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            auth=LOGIN,
            timeout=3600,
        )
        if answer.status_code != 202:
            raise RuntimeError(f"the upload was answered {answer.status_code}: {answer.text[:500]}")
        file_id = answer.json()["id"]
        while True:
            doc = requests.get(f"{self.url}/api/files/{file_id}", auth=LOGIN, timeout=60).json()
            if doc["status"] == "in_lake":
                return doc
            if doc["status"] != "received":
                raise RuntimeError(f"the upload ended {doc['status']}: {doc.get('errors')}")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def measure(bench: Bench) -> None:
    """Every size of the scale's `intake_bytes`: upload → lake against the floors, the service's peak RSS; and at the
    smaller, drop → warehouse."""
    from bench.run import PeakRss, log

    results = bench.results
    work = bench.stack.state_dir / "intake-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    labels = ("small_file", "large_file")
    try:
        for label, size in zip(labels, bench.scale.intake_bytes, strict=True):
            settings = bench.variant(f"bench_intake_{label}")
            path = work / f"{label}.csv"
            count = coingecko_file(path, size)
            actual = path.stat().st_size
            log(f"intake: {label}, {actual / 1e6:.0f} MB, {count:,} rows")
            csv_s = csv_floor(path)
            floor_rows, insert_s = insert_floor(settings, path, min(count, FLOOR_ROWS))
            service = IntakeService(settings, work / f"files-{label}", limit=2 * actual)
            try:
                with PeakRss(service.process.pid) as rss:
                    start = time.perf_counter()
                    doc = service.upload(path)
                    seconds = time.perf_counter() - start
            finally:
                service.stop()
            if doc["counts"]["in_lake"] != count:
                raise RuntimeError(f"the intake landed {doc['counts']['in_lake']} of {count} rows")
            ours, csv_rate, insert_rate = count / seconds, count / csv_s, floor_rows / insert_s
            results |= {
                f"intake_bytes_{label}": actual,
                f"intake_rows_{label}": count,
                f"intake_seconds_{label}": seconds,
                f"intake_mb_per_s_{label}": actual / 1e6 / seconds,
                f"intake_rows_per_s_{label}": ours,
                f"intake_csv_floor_rows_per_s_{label}": csv_rate,
                f"intake_insert_floor_rows_per_s_{label}": insert_rate,
                f"intake_floor_ratio_{label}": ours / min(csv_rate, insert_rate),
                f"intake_peak_rss_mb_{label}": rss.peak / 2**20,
            }
            log(
                f"intake: {label} {ours:,.0f} rows/s ({actual / 1e6 / seconds:.1f} MB/s); floors csv {csv_rate:,.0f}, "
                f"insert_many {insert_rate:,.0f} rows/s; peak RSS {rss.peak / 2**20:.0f} MB"
            )
            if label == labels[0]:
                drop_to_warehouse(bench, settings, path, count, work)
            path.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["intake_floor_ratio"] = min(results[f"intake_floor_ratio_{label}"] for label in labels)
    growth = results["intake_peak_rss_mb_large_file"] / results["intake_peak_rss_mb_small_file"]
    results["intake_rss_growth_ratio"] = growth


def drop_to_warehouse(bench: Bench, settings: Settings, path: Path, count: int, work: Path) -> None:
    """The file dropped in an inbox, taken by the inbox DAG's task (`inbox.take_all`), then loaded by the job as a
    scheduled load is (a session on the stack's Spark Connect server): rows/s from the drop to the warehouse."""
    folder = work / "inbox"
    folder.mkdir()
    fresh = bench.variant("bench_intake_drop")
    dropped = fresh.model_copy(update={"INBOX_DIR": folder, "FILES_DIR": work / "files-drop"})
    start = time.perf_counter()
    shutil.copyfile(path, folder / "btc-usd-max.csv")
    moment = time.time() - 60  # complete: no settling wait in the figure
    os.utime(folder / "btc-usd-max.csv", (moment, moment))
    with MongoClient(dropped.MONGO_URI, document_class=dict, tz_aware=True) as client:
        (taken,) = inbox.take_all(client[dropped.MONGO_DB], dropped)
    landed = time.perf_counter() - start
    bench.job(dropped)
    seconds = time.perf_counter() - start
    with psycopg.connect(**dropped.postgres_conninfo) as conn:
        loaded = conn.execute("SELECT count(*) FROM asset_prices WHERE from_file").fetchone()
    if taken.outcome != "in_lake" or loaded is None or loaded[0] != count:
        raise RuntimeError(f"the dropped file's {count} rows did not all reach the warehouse: {taken}, {loaded}")
    bench.results |= {
        "intake_drop_to_lake_seconds": landed,
        "intake_drop_to_warehouse_seconds": seconds,
        "intake_drop_to_warehouse_rows_per_s": count / seconds,
    }
