"""docker-compose.yml with .env, loaded by the Compose Specification's reference loader (compose-go, through
tools/compose-check): schema, interpolation and the references between services, networks and volumes, as
`docker compose config` checks them, without a Docker engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo.uri_parser import parse_uri

from market_weather.settings import PROJECT_ROOT, DashboardSettings

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
ENV_FILE = PROJECT_ROOT / ".env"
TOOL_DIR = PROJECT_ROOT / "tools" / "compose-check"
TOOL = PROJECT_ROOT / ".local" / "tools" / "compose-check"


def find_go() -> str:
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if go is None:
        pytest.fail("Go is not installed (no `go` on PATH, no /usr/local/go/bin/go): .ci/run installs it")
    return go


@pytest.fixture(scope="session")
def compose_check() -> Path:
    """tools/compose-check built with this machine's Go, from the committed go.mod and go.sum."""
    env = {**os.environ, "GOFLAGS": "-mod=readonly -buildvcs=false"}
    build = subprocess.run(
        [find_go(), "build", "-o", str(TOOL), "."],
        cwd=TOOL_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if build.returncode != 0:
        pytest.fail(f"building tools/compose-check failed:\n{build.stderr}")
    return TOOL


def check(tool: Path, compose_file: Path, env_file: Path, **env: str) -> subprocess.CompletedProcess:
    """`compose-check --env-file ENV_FILE COMPOSE_FILE`, from a folder other than the project's."""
    return subprocess.run(
        [str(tool), "--env-file", str(env_file), str(compose_file)],
        cwd=compose_file.parent.parent,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def declared_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def resolved(compose_check) -> dict[str, Any]:
    """The project as compose-go resolves the real docker-compose.yml with .env."""
    result = check(compose_check, COMPOSE_FILE, ENV_FILE)
    assert result.returncode == 0, result.stderr
    # Warnings (a variable missing from .env, an obsolete attribute) would not stop docker compose: stop here.
    assert result.stderr == "", result.stderr
    return json.loads(result.stdout)


def test_compose_file_loads_with_every_declared_service(resolved):
    assert set(resolved["services"]) == set(declared_compose()["services"])


def test_every_published_port_binds_loopback_only(resolved):
    ports = {name: service.get("ports", []) for name, service in resolved["services"].items()}
    assert any(ports.values()), "no service publishes a port"
    exposed = {
        f"{name}:{port.get('published')}->{port['target']}": port.get("host_ip", "0.0.0.0")
        for name, service_ports in ports.items()
        for port in service_ports
        if port.get("host_ip") != "127.0.0.1"
    }
    assert exposed == {}


def test_every_service_has_a_memory_limit(resolved):
    def limit(service: dict[str, Any]) -> int:
        deploy_limit = (((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get("memory")
        return int(service.get("mem_limit") or deploy_limit or 0)

    unlimited = sorted(name for name, service in resolved["services"].items() if limit(service) <= 0)
    assert unlimited == []


def test_the_dashboard_gets_its_settings_and_no_owner_login(resolved):
    """As compose resolves it (anchors merged, env files read): the dashboard's own settings only."""
    services = resolved["services"]
    env = services["dashboard"]["environment"]
    assert set(env) == set(DashboardSettings.model_fields)
    init, mongo = services["airflow-init"]["environment"], services["mongo"]["environment"]
    secrets = {
        "POSTGRES_PASSWORD": init["POSTGRES_PASSWORD"],
        "AIRFLOW_DB_PASSWORD": init["AIRFLOW_DB_PASSWORD"],
        "MONGO_ROOT_PASSWORD": mongo["MONGO_INITDB_ROOT_PASSWORD"],
    }
    leaked = {name for name, secret in secrets.items() for value in env.values() if secret in value}
    assert leaked == set()
    assert env["DASHBOARD_DB_USER"] not in (init["POSTGRES_USER"], init["AIRFLOW_DB_USER"])
    assert parse_uri(env["MONGO_URI"])["username"] != mongo["MONGO_INITDB_ROOT_USERNAME"]


def test_the_dashboards_logins_are_the_ones_the_stack_creates(resolved):
    """The warehouse login airflow-init's migrations create, the lake login mongo's first start creates."""
    services = resolved["services"]
    env, init, mongo = (services[name]["environment"] for name in ("dashboard", "airflow-init", "mongo"))
    for name in ("DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD", "POSTGRES_DB"):
        assert env[name] == init[name], name
    uri = parse_uri(env["MONGO_URI"])
    assert (uri["username"], uri["password"]) == (mongo["LAKE_READER_USER"], mongo["LAKE_READER_PASSWORD"])
    assert uri["database"] == uri["options"]["authSource"] == mongo["MONGO_DB"] == env["MONGO_DB"]
    mounts = {volume["target"]: volume for volume in services["mongo"]["volumes"]}
    script = mounts["/docker-entrypoint-initdb.d/10_lake_reader.js"]
    assert script["read_only"] and Path(script["source"]) == PROJECT_ROOT / "docker/mongo/lake-reader.js"
    assert services["dashboard"]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def broken_copy(folder: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """docker-compose.yml and .env copied into folder, with edit applied to the first service."""
    compose = declared_compose()
    edit(next(iter(compose["services"].values())))
    target = folder / "docker-compose.yml"
    target.write_text(yaml.safe_dump(compose, sort_keys=False))
    shutil.copy(ENV_FILE, folder / ".env")
    return target


def break_depends_on(service: dict[str, Any]) -> None:
    service["depends_on"] = {"no-such-service": {"condition": "service_started"}}


def break_unknown_key(service: dict[str, Any]) -> None:
    service["memory_limit"] = "1g"


def break_network(service: dict[str, Any]) -> None:
    service["networks"] = ["no-such-network"]


def break_required_variable(service: dict[str, Any]) -> None:
    service["environment"] = {"CHECK": "${COMPOSE_CHECK_UNSET:?is required}"}


def leave_as_is(service: dict[str, Any]) -> None:
    pass


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (break_depends_on, ["undefined service", "no-such-service"]),
        (break_unknown_key, ["memory_limit"]),
        (break_network, ["undefined network", "no-such-network"]),
        (break_required_variable, ["COMPOSE_CHECK_UNSET", "is required"]),
    ],
    ids=["depends_on-missing-service", "unknown-service-key", "missing-network", "unset-required-variable"],
)
def test_spec_error_is_rejected_with_a_message_naming_it(compose_check, tmp_path, edit, named):
    # A variable set in the caller's environment does not hide one missing from the env file.
    result = check(compose_check, broken_copy(tmp_path, edit), tmp_path / ".env", COMPOSE_CHECK_UNSET="set")
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("compose-check: ")
    for word in named:
        assert word in line


def test_unedited_copy_loads(compose_check, tmp_path):
    """The copies above differ from a valid file only by their deliberate error."""
    result = check(compose_check, broken_copy(tmp_path, leave_as_is), tmp_path / ".env")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["services"]) == set(declared_compose()["services"])
