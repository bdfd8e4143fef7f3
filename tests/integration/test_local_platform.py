"""`make run`'s stack as a user meets it: every UI answers behind its login, data flows on schedule
from ingest to warehouse through Asset events, a second start starts no twins, stop leaves nothing."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import psycopg
import pytest
import requests

from market_weather.stack.services import LocalStack, isolated_settings
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
    yield stack
    stack.stop()
    shutil.rmtree(state, ignore_errors=True)


class AirflowApi(requests.Session):
    """A session logged in to Airflow's REST API at `base`."""

    def __init__(self, base: str, token: str):
        super().__init__()
        self.base = base
        self.headers["Authorization"] = f"Bearer {token}"


def airflow_api(stack: LocalStack) -> AirflowApi:
    s = stack.settings
    base = f"http://127.0.0.1:{s.AIRFLOW_UI_PORT}"
    token = requests.post(
        f"{base}/auth/token",
        json={"username": s.AIRFLOW_ADMIN_USER, "password": s.AIRFLOW_ADMIN_PASSWORD.get_secret_value()},
        timeout=10,
    )
    token.raise_for_status()
    return AirflowApi(base, token.json()["access_token"])


def test_every_service_is_healthy(platform):
    # Airflow's health is its components' heartbeats: on 2 busy cores one can lag a beat after the start.
    platform.wait_healthy(timeout=120)
    statuses = platform.status()
    assert {s.name: s.healthy for s in statuses} == {
        "postgres": True,
        "lake": True,
        "airflow": True,
        "mongo_express": True,
        "pgadmin": True,
    }, [s.detail for s in statuses]


def test_airflow_is_healthy_with_our_dags_unpaused(platform):
    api = airflow_api(platform)
    health = api.get(f"{api.base}/api/v2/monitor/health", timeout=10).json()
    assert {part["status"] for part in health.values()} == {"healthy"}
    deadline = time.monotonic() + 120
    while True:
        dags = {d["dag_id"]: d["is_paused"] for d in api.get(f"{api.base}/api/v2/dags", timeout=10).json()["dags"]}
        if len(dags) == 4 or time.monotonic() > deadline:
            break
        time.sleep(5)
    assert dags == {
        "ingest_coincap": False,
        "ingest_openweather": False,
        "lake_to_warehouse": False,
        "backfill_history": False,
    }
    wrong = requests.post(f"{api.base}/auth/token", json={"username": "admin", "password": "nope"}, timeout=10)
    assert wrong.status_code in (401, 403)


def test_data_flows_from_the_schedules_to_the_warehouse(platform):
    """ingest_coincap runs every minute; its Asset event triggers lake_to_warehouse."""
    api = airflow_api(platform)
    deadline = time.monotonic() + 420
    runs = []
    while time.monotonic() < deadline:
        runs = api.get(f"{api.base}/api/v2/dags/lake_to_warehouse/dagRuns", timeout=10).json()["dag_runs"]
        if any(r["state"] == "success" for r in runs):
            break
        if any(r["state"] == "failed" for r in runs):
            pytest.fail(f"lake_to_warehouse failed; see {platform.log_dir}")
        time.sleep(10)
    assert any(r["state"] == "success" and r["run_type"] == "asset_triggered" for r in runs), runs
    with psycopg.connect(**platform.settings.postgres_conninfo) as conn:
        assert conn.execute("SELECT count(*) FROM assets").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM etl_runs WHERE status = 'success'").fetchone()[0] >= 1


def test_mongo_express_lists_the_lake_behind_basic_auth(platform):
    s = platform.settings
    url = f"http://127.0.0.1:{s.MONGO_EXPRESS_PORT}/"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=(s.MONGO_EXPRESS_USER, "wrong"), timeout=10).status_code == 401
    page = requests.get(url, auth=(s.MONGO_EXPRESS_USER, s.MONGO_EXPRESS_PASSWORD.get_secret_value()), timeout=10)
    assert page.status_code == 200 and 'href="/db/lake/"' in page.text


def test_pgadmin_logs_in_and_has_the_warehouse_registered(platform):
    s = platform.settings
    base = f"http://127.0.0.1:{s.PGADMIN_PORT}"
    session = requests.Session()
    login_page = session.get(f"{base}/login", timeout=10)
    token = re.search(r'"csrfToken": "([^"]+)"', login_page.text).group(1)
    form = {"csrf_token": token, "email": s.PGADMIN_EMAIL, "internal_button": "Login"}
    refused = session.post(
        f"{base}/authenticate/login", data={**form, "password": "wrong"}, allow_redirects=False, timeout=10
    )
    assert refused.headers["Location"].endswith("/login")
    login = session.post(
        f"{base}/authenticate/login",
        data={**form, "password": s.PGADMIN_PASSWORD.get_secret_value()},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 302 and login.headers["Location"].endswith("/browser/")
    session.headers["X-pgA-CSRFToken"] = token
    groups = session.get(f"{base}/browser/server_group/nodes/", timeout=10).json()["data"]
    assert [g["label"] for g in groups] == ["Servers"], "one group, the warehouse in it"
    platform_group = groups[0]["_id"]
    servers = session.get(f"{base}/browser/server/nodes/{platform_group}", timeout=10).json()["result"]
    warehouse = next(srv for srv in servers if srv["label"] == "warehouse")
    assert (warehouse["host"], warehouse["db"], warehouse["username"]) == ("127.0.0.1", "warehouse", "warehouse")
    connected = session.post(f"{base}/browser/server/connect/{platform_group}/{warehouse['_id']}", json={}, timeout=20)
    assert connected.status_code == 200, "the stored password opens the server without asking"


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
    for port in (s.POSTGRES_PORT, s.AIRFLOW_UI_PORT, s.MONGO_EXPRESS_PORT, s.PGADMIN_PORT):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
