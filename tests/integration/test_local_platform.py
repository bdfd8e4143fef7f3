"""`make run`'s stack as a user meets it: compose's topology (Airflow as four components on PostgreSQL, a
Spark master and worker, the Spark Connect server), every UI behind its login, data flowing on schedule from
ingest to warehouse through Asset events and sessions on the Spark Connect server, a killed server coming back
while the load retries, every listener on loopback, a second start starting no twins, and stop leaving
nothing."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg
import pytest
import requests
from pymongo import MongoClient

from market_weather.contract import COINCAP_ASSETS
from market_weather.lake import LakeWriter
from market_weather.producer import source_to_lake
from market_weather.producer.simulated import SimulatedCoinCap
from market_weather.stack import spark_cluster
from market_weather.stack.ports import isolated_settings
from market_weather.stack.postgres_cluster import PG_SUPERUSER
from market_weather.stack.programs import CORE, PLATFORM
from market_weather.stack.services import LocalStack
from tests.conftest import run_module
from tests.integration.conftest import open_state_dir


@pytest.fixture(scope="module")
def platform():
    state = open_state_dir()
    settings = isolated_settings(
        state,
        POSTGRES_PASSWORD="pw-platform",
        COINCAP_ASSETS="bitcoin,ethereum",
        OPENWEATHER_LOCATIONS="paris:Paris:48.8566:2.3522",
        SPARK_MASTER="local[2]",
        AIRFLOW_ADMIN_PASSWORD="af-secret-1",
        MONGO_EXPRESS_PASSWORD="me-secret-1",
        PGADMIN_EMAIL="ops@example.com",
        PGADMIN_PASSWORD="pga-secret-1",
    )
    stack = LocalStack(settings)
    assert stack.start(full=True) is True
    stack.listeners_seen = set()  # type: ignore[attr-defined]
    yield stack
    stack.stop()
    shutil.rmtree(state, ignore_errors=True)


class AirflowApi(requests.Session):
    """A session logged in to Airflow's REST API at `base`."""

    def __init__(self, base: str, token: str):
        super().__init__()
        self.base = base
        self.headers["Authorization"] = f"Bearer {token}"


DAGS = ("ingest_coincap", "ingest_openweather", "lake_to_warehouse", "backfill_history", "intake_inbox")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "files"
# How long a request may wait for its answer: the stack has just started on two cores (Airflow's four components,
# the first loads, the Spark Connect server's warm-up), and these tests check what it answers, not how fast (the
# bench measures that).
ANSWER_S = 60


def airflow_api(stack: LocalStack) -> AirflowApi:
    s = stack.settings
    base = f"http://127.0.0.1:{s.AIRFLOW_UI_PORT}"
    token = requests.post(
        f"{base}/auth/token",
        json={"username": s.AIRFLOW_ADMIN_USER, "password": s.AIRFLOW_ADMIN_PASSWORD.get_secret_value()},
        timeout=ANSWER_S,
    )
    token.raise_for_status()
    return AirflowApi(base, token.json()["access_token"])


def processes(stack: LocalStack) -> list[tuple[psutil.Process, str]]:
    """Every process of the stack with its command line: supervisord and its descendants, tasks and
    their Spark drivers and executors included (those that end while they are listed are left out)."""
    supervisord = psutil.Process(int((stack.state_dir / "supervisord.pid").read_text()))
    found = []
    for process in [supervisord, *supervisord.children(recursive=True)]:
        try:
            found.append((process, " ".join(process.cmdline())))
        except psutil.Error:
            continue
    return found


def listeners(stack: LocalStack) -> set[tuple[str, str, int]]:
    """(process, address, port) of every socket listening in a process of the stack."""
    found = set()
    for process, command in processes(stack):
        try:
            for conn in process.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    # A JVM's command line opens on its class path: name its main class first.
                    main_class = next((word for word in command.split() if word.startswith("org.apache.")), "")
                    found.add((f"{main_class} {command[:160]}".strip(), conn.laddr.ip, conn.laddr.port))
        except psutil.Error:
            continue
    stack.listeners_seen |= found  # type: ignore[attr-defined]
    return found


def test_every_service_is_healthy(platform):
    # Airflow's health is its components' heartbeats: on 2 busy cores one can lag a beat after the start.
    platform.wait_healthy(timeout=120)
    statuses = platform.status()
    assert {s.name: s.healthy for s in statuses} == dict.fromkeys(CORE + PLATFORM, True), [s.detail for s in statuses]


def test_airflow_runs_as_its_four_components_on_postgres(platform):
    commands = [command for _, command in processes(platform)]
    for component in ("scheduler --skip-serve-logs", "dag-processor", "triggerer --skip-serve-logs"):
        assert any(c.endswith(f"bin/airflow {component}") for c in commands), (component, commands)
    assert any("api_server" in c or c.endswith("bin/airflow api-server") for c in commands), commands
    assert not any("standalone" in c for c in commands)
    s = platform.settings
    with psycopg.connect(host=str(platform.pg_run), port=s.POSTGRES_PORT, user=PG_SUPERUSER, dbname="airflow") as conn:
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'airflow'").fetchone()[0]
        deadline = time.monotonic() + 120  # the dag-processor parses the folder after it starts
        while len(dags := {row[0] for row in conn.execute("SELECT dag_id FROM dag")}) < len(DAGS):
            if time.monotonic() > deadline:
                break
            time.sleep(3)
    assert owner == s.AIRFLOW_DB_USER
    assert dags == set(DAGS)


def test_airflow_keys_are_made_once_for_the_owner_alone(platform):
    keys = platform.airflow_home / "secrets.json"
    assert keys.stat().st_mode & 0o777 == 0o600
    values = json.loads(keys.read_text())
    for name in ("airflow_scheduler", "airflow_apiserver"):
        env = json.loads((platform.state_dir / f"{name}.env.json").read_text())
        assert env["AIRFLOW__CORE__FERNET_KEY"] == values["fernet_key"]
        assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == values["jwt_secret"]
    assert platform.start(full=True) is False and json.loads(keys.read_text()) == values


def test_airflow_is_healthy_with_our_dags_unpaused(platform):
    api = airflow_api(platform)
    health = api.get(f"{api.base}/api/v2/monitor/health", timeout=ANSWER_S).json()
    assert {part["status"] for part in health.values()} == {"healthy"}
    deadline = time.monotonic() + 120
    while True:
        listed = api.get(f"{api.base}/api/v2/dags", timeout=ANSWER_S).json()["dags"]
        dags = {d["dag_id"]: d["is_paused"] for d in listed}
        if len(dags) == len(DAGS) or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert dags == dict.fromkeys(DAGS, False)
    wrong = requests.post(f"{api.base}/auth/token", json={"username": "admin", "password": "nope"}, timeout=ANSWER_S)
    assert wrong.status_code in (401, 403)


def test_data_flows_from_the_schedules_to_the_warehouse(platform):
    """ingest_coincap runs every minute; its Asset event triggers lake_to_warehouse, whose loads are sessions of
    the one Spark Connect application on the cluster."""
    api = airflow_api(platform)
    deadline = time.monotonic() + 420
    runs = []
    while time.monotonic() < deadline:
        listeners(platform)  # the loads' executors listen too: sample them while they run
        runs = api.get(f"{api.base}/api/v2/dags/lake_to_warehouse/dagRuns", timeout=ANSWER_S).json()["dag_runs"]
        if sum(r["state"] == "success" for r in runs) >= 2:
            break
        if any(r["state"] == "failed" for r in runs):
            pytest.fail(f"lake_to_warehouse failed; see {platform.log_dir}")
        time.sleep(3)
    assert sum(r["state"] == "success" and r["run_type"] == "asset_triggered" for r in runs) >= 2, runs
    with psycopg.connect(**platform.settings.postgres_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM assets").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM etl_runs WHERE status = 'success'").fetchone()[0] >= 2

    # They ran on the cluster, in the Spark Connect application alone: no application of their own.
    cluster = spark_cluster.cluster_state(platform.settings)
    assert [w["state"] for w in cluster["workers"]] == ["ALIVE"]
    assert [app["name"] for app in cluster["activeapps"]] == ["spark_connect"]
    assert cluster["completedapps"] == [], "no load started an application"

    # Its log opens in the UI, read from the shared log folder (no log server runs).
    done = next(r for r in runs if r["state"] == "success")
    logs = api.get(
        f"{api.base}/api/v2/dags/lake_to_warehouse/dagRuns/{quote(done['dag_run_id'], safe='')}"
        "/taskInstances/load_warehouse/logs/1",
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert logs.status_code == 200
    events = " ".join(str(line.get("event", "")) for line in logs.json()["content"])
    assert f"run {done['dag_run_id']}: " in events and " read, " in events, "the job's summary line"


def wait_for_file(lake, query: dict, status: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while (found := lake.files.find_one(query)) is None or found["status"] != status:
        if time.monotonic() > deadline:
            pytest.fail(f"no file {query} became {status} within {timeout:.0f} s: {found}")
        time.sleep(1)
    return found


def test_a_file_dropped_in_the_inbox_is_taken_by_airflow_within_seconds_and_loaded(platform):
    """The inbox DAG's deferrable sensor (the triggerer looks) sees the file once renamed from .part; its task lands
    the rows and archives the file; the next scheduled load makes it `loaded`."""
    inbox = platform.settings.INBOX_DIR
    partial = inbox / "btc-usd-max.csv.part"
    partial.write_bytes((FIXTURES / "btc-usd-max.csv").read_bytes())
    time.sleep(5)
    assert partial.exists(), "a .part file is not taken"
    dropped = time.monotonic()
    partial.rename(inbox / "btc-usd-max.csv")
    archived = inbox / "archive" / "btc-usd-max.csv"
    while not archived.exists():
        assert time.monotonic() - dropped < 90, f"not taken within 90 s; see {platform.log_dir}"
        time.sleep(0.5)
    taken_after = time.monotonic() - dropped
    with MongoClient(platform.settings.MONGO_URI, document_class=dict) as client:
        lake = client[platform.settings.MONGO_DB]
        landed = wait_for_file(lake, {"name": "btc-usd-max.csv"}, "in_lake", 30)
        assert landed["via"] == "inbox" and landed["counts"]["in_lake"] == 6
        loaded = wait_for_file(lake, {"_id": landed["_id"]}, "loaded", 240)
    assert loaded["counts"]["loaded"] == 6
    with psycopg.connect(**platform.settings.postgres_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM asset_prices WHERE from_file").fetchone()[0] == 6
    print(f"taken {taken_after:.1f} s after the rename")

    # The same stack's intake service takes an upload with its login, the Open-Meteo file.
    url = f"http://127.0.0.1:{platform.settings.INTAKE_PORT}"
    login = (platform.settings.INTAKE_USER, platform.settings.INTAKE_PASSWORD.get_secret_value())
    content = (FIXTURES / "open-meteo-paris-hourly.csv").read_bytes()
    upload = {"file": ("paris.csv", content)}
    assert requests.post(f"{url}/api/files", files=upload, timeout=ANSWER_S).status_code == 401
    answer = requests.post(f"{url}/api/files", files=upload, auth=login, timeout=ANSWER_S)
    assert answer.status_code == 202, answer.text


def test_a_killed_spark_connect_server_comes_back_and_the_load_retries_losing_nothing(platform):
    """The server is killed while a scheduled load runs on it: that try fails naming the server, supervisord
    starts the server again, Airflow's retry loads the window, and the warehouse holds every point once."""
    s = platform.settings
    coincap = SimulatedCoinCap(seed=11)
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=2)
    with MongoClient(s.MONGO_URI, document_class=dict) as client:
        lake = client[s.MONGO_DB]
        # Enough history that the next load takes a while.
        source_to_lake.backfill_coincap(
            coincap, LakeWriter(lake), s.COINCAP_ASSETS, end - timedelta(days=3), end, "m1", "kill"
        )
        points = {(d["entity_id"], d["observed_at"]) for d in lake.coincap_history.find({"run_id": "kill"})}
    with psycopg.connect(**s.postgres_conninfo, autocommit=True) as conn:
        deadline = time.monotonic() + 180
        while not (
            row := conn.execute(
                "SELECT run_id FROM etl_runs WHERE status = 'running' AND started_at > now() - interval '1 minute'"
            ).fetchone()
        ):
            assert time.monotonic() < deadline, "no load started"
            time.sleep(0.1)
        (run_id,) = row
        time.sleep(2)  # inside its Spark work
        os.kill(platform.supervisor.pid("spark_connect"), signal.SIGKILL)

        def recorded() -> tuple[str, str]:
            found = conn.execute("SELECT status, message FROM etl_runs WHERE run_id = %s", [run_id]).fetchone()
            assert found is not None
            return found

        deadline = time.monotonic() + 60
        while recorded()[0] == "running":
            assert time.monotonic() < deadline, "the killed try never ended"
            time.sleep(0.5)
        status, message = recorded()
        assert status == "failed" and message.startswith("SparkServerGone: the Spark Connect server at "), message

        platform.wait_healthy(("spark_connect",), timeout=120)  # supervisord started it again
        api = airflow_api(platform)
        task = f"{api.base}/api/v2/dags/lake_to_warehouse/dagRuns/{quote(run_id, safe='')}/taskInstances/load_warehouse"
        deadline = time.monotonic() + 300
        while (state := api.get(task, timeout=ANSWER_S).json())["state"] != "success":
            assert state["state"] != "failed" and time.monotonic() < deadline, state
            time.sleep(3)
        assert state["try_number"] >= 2, "the retry loaded it"
        assert conn.execute("SELECT status FROM etl_runs WHERE run_id = %s", [run_id]).fetchone() == ("success",)
        stored = conn.execute(
            "SELECT count(*), count(DISTINCT (asset_id, observed_at)) FROM asset_prices "
            "WHERE observed_at < %s AND NOT from_file",
            [end],
        ).fetchone()
        assert stored == (len(points), len(points)), "every point once"
        assert conn.execute(
            "SELECT count(*) FROM etl_runs WHERE status = 'running' AND run_id = %s", [run_id]
        ).fetchone() == (0,)
    cluster = spark_cluster.cluster_state(s)
    assert [app["name"] for app in cluster["activeapps"]] == ["spark_connect"], "one application again"


def test_the_platforms_dashboard_shows_its_scheduled_loads(platform):
    """After the scheduled load above: the dashboard `make run` started lists it, read as its own login."""
    url = f"http://127.0.0.1:{platform.settings.DASHBOARD_PORT}"
    assert requests.get(f"{url}/api/health", timeout=ANSWER_S).json()["warehouse_login"] == "dashboard"
    with psycopg.connect(**platform.settings.postgres_conninfo) as conn:
        loaded = {run_id for (run_id,) in conn.execute("SELECT run_id FROM etl_runs WHERE status = 'success'")}
    shown = {run["run_id"] for run in requests.get(f"{url}/api/pipeline/runs", timeout=ANSWER_S).json()}
    assert loaded and loaded <= shown
    prices = requests.get(f"{url}/api/markets/prices", timeout=ANSWER_S).json()
    assert {p["asset_id"] for p in prices} == set(platform.settings.COINCAP_ASSETS)
    assert "Pipeline" in requests.get(f"{url}/pipeline", timeout=ANSWER_S).text


def test_every_listener_of_the_stack_is_on_loopback(platform):
    seen = platform.listeners_seen | listeners(platform)
    elsewhere = set()
    for process, address, port in seen:
        ip = ipaddress.ip_address(address)
        ip = getattr(ip, "ipv4_mapped", None) or ip
        if str(ip) != "127.0.0.1":
            elsewhere.add((process, address, port))
    assert not elsewhere, f"listening beyond 127.0.0.1: {sorted(elsewhere)}"
    s = platform.settings
    documented = {
        s.POSTGRES_PORT,
        platform.lake_port,
        s.AIRFLOW_UI_PORT,
        s.MONGO_EXPRESS_PORT,
        s.PGADMIN_PORT,
        s.SPARK_MASTER_PORT,
        s.SPARK_MASTER_UI_PORT,
        s.SPARK_WORKER_UI_PORT,
        s.SPARK_CONNECT_PORT,
        s.SPARK_CONNECT_UI_PORT,
    }
    assert documented <= {port for _, _, port in seen}
    assert not {8793, 8794} & {port for _, _, port in seen}, "no Airflow log server"
    executors = [entry for entry in seen if "CoarseGrainedExecutor" in entry[0]]
    assert executors, "the loads' executors were seen listening"


def test_mongo_express_lists_the_lake_behind_basic_auth(platform):
    s = platform.settings
    url = f"http://127.0.0.1:{s.MONGO_EXPRESS_PORT}/"
    assert requests.get(url, timeout=ANSWER_S).status_code == 401
    assert requests.get(url, auth=(s.MONGO_EXPRESS_USER, "wrong"), timeout=ANSWER_S).status_code == 401
    page = requests.get(url, auth=(s.MONGO_EXPRESS_USER, s.MONGO_EXPRESS_PASSWORD.get_secret_value()), timeout=ANSWER_S)
    assert page.status_code == 200 and 'href="/db/lake/"' in page.text


def test_mongo_express_is_read_only(platform):
    """The lake is raw data the pipeline owns: no delete or edit in the browser, and deletes refused."""
    s = platform.settings
    auth = (s.MONGO_EXPRESS_USER, s.MONGO_EXPRESS_PASSWORD.get_secret_value())
    base = f"http://127.0.0.1:{s.MONGO_EXPRESS_PORT}/db/{s.MONGO_DB}/{COINCAP_ASSETS}"
    with MongoClient[dict](s.MONGO_URI) as client:
        collection = client[s.MONGO_DB][COINCAP_ASSETS]
        deadline = time.monotonic() + 180  # ingest_coincap writes every minute
        while (before := collection.count_documents({})) == 0 and time.monotonic() < deadline:
            time.sleep(5)
        assert before > 0, "the schedules wrote documents by now"
        page = requests.get(base, auth=auth, timeout=30)
        assert page.status_code == 200
        assert "Delete all" not in page.text and "New Document" not in page.text
        requests.delete(base, auth=auth, timeout=30)  # what its "Delete all documents" button sends
        assert collection.count_documents({}) >= before


def test_pgadmin_logs_in_and_has_the_warehouse_registered(platform):
    s = platform.settings
    base = f"http://127.0.0.1:{s.PGADMIN_PORT}"
    session = requests.Session()
    login_page = session.get(f"{base}/login", timeout=ANSWER_S)
    token = re.search(r'"csrfToken": "([^"]+)"', login_page.text).group(1)
    form = {"csrf_token": token, "email": s.PGADMIN_EMAIL, "internal_button": "Login"}
    refused = session.post(
        f"{base}/authenticate/login", data={**form, "password": "wrong"}, allow_redirects=False, timeout=ANSWER_S
    )
    assert refused.headers["Location"].endswith("/login")
    login = session.post(
        f"{base}/authenticate/login",
        data={**form, "password": s.PGADMIN_PASSWORD.get_secret_value()},
        allow_redirects=False,
        timeout=ANSWER_S,
    )
    assert login.status_code == 302 and login.headers["Location"].endswith("/browser/")
    session.headers["X-pgA-CSRFToken"] = token
    groups = session.get(f"{base}/browser/server_group/nodes/", timeout=ANSWER_S).json()["data"]
    assert [g["label"] for g in groups] == ["Servers"], "one group, the warehouse in it"
    platform_group = groups[0]["_id"]
    servers = session.get(f"{base}/browser/server/nodes/{platform_group}", timeout=ANSWER_S).json()["result"]
    warehouse = next(srv for srv in servers if srv["label"] == "warehouse")
    assert (warehouse["host"], warehouse["db"], warehouse["username"]) == ("127.0.0.1", "warehouse", "warehouse")
    connected = session.post(f"{base}/browser/server/connect/{platform_group}/{warehouse['_id']}", json={}, timeout=20)
    assert connected.status_code == 200, "the stored password opens the server without asking"


def test_make_run_on_a_running_stack_starts_nothing_and_prints_every_url(platform):
    s = platform.settings
    env = {**s.as_environment(), "PATH": "/usr/bin:/bin"}
    result = run_module(env, "market_weather.stack", "run", timeout=300)
    assert result.returncode == 0, result.stderr
    assert "already running; nothing started twice" in result.stdout
    uis = (
        s.AIRFLOW_UI_PORT,
        s.MONGO_EXPRESS_PORT,
        s.PGADMIN_PORT,
        s.SPARK_MASTER_UI_PORT,
        s.SPARK_CONNECT_UI_PORT,
        s.INTAKE_PORT,
    )
    for port in (*uis, s.DASHBOARD_PORT):
        assert f"http://127.0.0.1:{port}" in result.stdout, result.stdout
    assert "Spark master" in result.stdout and str(s.INBOX_DIR) in result.stdout
    for name in CORE + PLATFORM:
        assert f"ok   {name}" in result.stdout, result.stdout


def test_a_second_start_starts_no_twins(platform):
    before = subprocess.run(["pgrep", "-f", str(platform.state_dir)], capture_output=True, text=True).stdout.split()
    assert platform.start(full=True) is False
    after = subprocess.run(["pgrep", "-f", str(platform.state_dir)], capture_output=True, text=True).stdout.split()
    assert sorted(before) == sorted(after)


def test_stop_leaves_nothing_running(platform):
    assert platform.stop() is True
    leftovers = subprocess.run(["pgrep", "-f", str(platform.state_dir)], capture_output=True, text=True).stdout
    assert leftovers == ""
    s = platform.settings
    ports = (s.POSTGRES_PORT, s.AIRFLOW_UI_PORT, s.MONGO_EXPRESS_PORT, s.PGADMIN_PORT, s.SPARK_MASTER_UI_PORT)
    for port in ports:
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
