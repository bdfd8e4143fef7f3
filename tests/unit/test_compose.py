"""The Docker stack, proved statically (no Docker engine here): it shares settings names, versions,
SQL files and the DAG folder with the local mode that the other tests run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from market_weather.orchestration.connections import airflow_connections
from market_weather.settings import PROJECT_ROOT, Settings, load_settings
from market_weather.stack import pgadmin

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
COMPOSE_TEXT = (PROJECT_ROOT / "docker-compose.yml").read_text()
ENV = dotenv_values(PROJECT_ROOT / ".env")
DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
CONSTRAINTS = dict(
    line.split("==", 1)
    for line in (PROJECT_ROOT / "constraints.txt").read_text().splitlines()
    if "==" in line and not line.startswith("#")
)
SERVICES = COMPOSE["services"]
ONE_SHOT = {"airflow-init"}


def interpolate(text: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: ENV[m.group(1)] or "", text)


def test_every_variable_the_compose_file_uses_is_defined_in_env():
    used = set(re.findall(r"\$\{(\w+)(?::?-[^}]*)?\}", COMPOSE_TEXT))
    assert used, "the compose file takes its values from .env"
    assert sorted(used - set(ENV)) == []


def test_env_holds_no_api_keys():
    assert ENV["COINCAP_API_KEY"] == "" and ENV["OPENWEATHER_API_KEY"] == ""


def test_every_image_is_pinned_to_a_tag():
    for name, service in SERVICES.items():
        image = service.get("image")
        assert image, f"{name} has an image"
        if "build" in service:
            continue
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and "/" not in tag, f"{name}: {image}"


def test_every_long_running_service_has_a_healthcheck_and_a_memory_limit():
    for name, service in SERVICES.items():
        assert service.get("mem_limit"), name
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), name


def test_dependencies_wait_for_health_or_completion():
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {dependency}"
            assert dependency in SERVICES


def test_user_interfaces_bind_to_loopback_on_one_network():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"
        assert service.get("networks") == ["platform"], name
    assert set(COMPOSE["volumes"]) >= {"lake-data", "warehouse-data", "pgadmin-data"}


def published_ports() -> dict[str, int]:
    return {
        name: int(interpolate(port).split(":")[1])
        for name, service in SERVICES.items()
        for port in service.get("ports", [])
    }


def test_ports_match_the_readme_table():
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme[readme.index("## Docker") :]
    table = dict(re.findall(r"^\| `([\w-]+)` \| (\d+) \|", section, re.M))
    assert {name: int(port) for name, port in table.items()} == published_ports()
    assert published_ports() == {
        "mongo": 27017,
        "mongo-express": 8082,
        "postgres": 5432,
        "pgadmin": 5050,
        "spark-master": 8080,
        "airflow-apiserver": 8081,
    }


def test_dockerfile_versions_equal_the_constraints_file():
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE, re.M))
    assert args["AIRFLOW_VERSION"] == CONSTRAINTS["apache-airflow"]
    assert args["PYSPARK_VERSION"] == CONSTRAINTS["pyspark"] == CONSTRAINTS["pyspark-client"]
    assert re.search(r'^requires-python = ">=3\.11,<3\.12"', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)
    assert args["PYTHON_VERSION"] == "3.11"
    assert "FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" in DOCKERFILE
    assert "--constraint constraints.txt" in DOCKERFILE
    assert "COPY spark/jars/pom.xml" in DOCKERFILE, "the same connector jars as the local mode"


def test_spark_image_version_equals_pyspark():
    for name in ("spark-master", "spark-worker"):
        image = SERVICES[name]["image"]
        assert image.startswith("apache/spark:")
        assert image.split(":")[1].split("-")[0] == CONSTRAINTS["pyspark"]
        assert "scala2.13" in image


def test_the_warehouse_schema_comes_from_the_migrations_as_in_the_local_mode():
    """airflow-init migrates the warehouse before Airflow starts; the postgres image applies no SQL of its own.

    The local stack runs the same migrations at each start (tests/integration/test_migrations.py)."""
    init = " ".join(SERVICES["airflow-init"]["command"])
    migrate, setup = "python -m market_weather.warehouse.migrate &&", "python -m market_weather.orchestration.setup"
    assert migrate in init and init.index(migrate) < init.index(setup)
    assert all(".sql" not in volume and "init:" not in volume for volume in SERVICES["postgres"]["volumes"])
    assert ".sql" not in (PROJECT_ROOT / "docker/postgres/initdb.sh").read_text()


def test_dags_folder_is_the_one_mounted():
    airflow = COMPOSE["x-airflow"]
    assert "./dags:/opt/platform/dags:ro" in airflow["volumes"]
    assert airflow["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/platform/dags"
    for name in (
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    ):
        assert SERVICES[name]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/platform/dags"


def test_every_airflow_component_shares_one_jwt_secret_and_fernet_key():
    for name, service in SERVICES.items():
        if name.startswith("airflow-"):
            env = service["environment"]
            assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "${AIRFLOW_JWT_SECRET}", name
            assert env["AIRFLOW__CORE__FERNET_KEY"] == "${AIRFLOW_FERNET_KEY}", name
            assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name


def test_airflow_connections_are_the_ones_the_platform_builds_from_the_compose_settings():
    environment = {name: interpolate(str(value)) for name, value in COMPOSE["x-airflow"]["environment"].items()}
    platform = {name: value for name, value in {**ENV, **environment}.items() if name in Settings.model_fields}
    built = airflow_connections(load_settings(**platform))
    assert {name: environment.get(name) for name in built} == built


def test_settings_names_are_the_ones_the_settings_module_reads():
    fields = set(Settings.model_fields)
    platform_env = {k for k in COMPOSE["x-airflow"]["environment"] if not k.startswith(("AIRFLOW", "PYSPARK"))}
    assert platform_env <= fields, platform_env - fields
    compose_only = {
        "MONGO_ROOT_USER",
        "MONGO_ROOT_PASSWORD",
        "AIRFLOW_FERNET_KEY",
        "AIRFLOW_JWT_SECRET",
        "MONGO_PORT",
    }
    assert set(ENV) - fields == compose_only


@pytest.mark.parametrize("service", ["mongo-express"])
def test_mongo_express_requires_basic_auth(service):
    env = SERVICES[service]["environment"]
    assert env["ME_CONFIG_BASICAUTH"] == "true"
    assert env["ME_CONFIG_BASICAUTH_USERNAME"] == "${MONGO_EXPRESS_USER}"
    assert env["ME_CONFIG_BASICAUTH_PASSWORD"] == "${MONGO_EXPRESS_PASSWORD}"


def test_pgadmin_gets_the_warehouse_and_a_private_pgpass():
    script = (PROJECT_ROOT / "docker/pgadmin/entrypoint.sh").read_text()
    assert 'chmod 600 "$storage/pgpass"' in script and '"PassFile": "/pgpass"' in script
    assert "exec /entrypoint.sh" in script
    assert SERVICES["pgadmin"]["environment"]["WAREHOUSE_DB"] == "${POSTGRES_DB}"


def test_pgadmins_pgpass_escapes_the_password_as_the_local_mode_does(tmp_path):
    """A password with `:` or `\\` still opens the warehouse in one click: the line equals the local mode's."""
    script = (PROJECT_ROOT / "docker/pgadmin/entrypoint.sh").read_text()
    # The image's paths, pointed into a temporary folder; the image's own entrypoint is not run.
    script = script.replace("/var/lib/pgadmin", str(tmp_path)).replace("exec /entrypoint.sh", "exit 0")
    password = "p:a\\ss:"
    env = {
        "PATH": "/usr/bin:/bin",
        "PGADMIN_DEFAULT_EMAIL": "ops@example.com",
        "WAREHOUSE_HOST": "postgres",
        "WAREHOUSE_PORT": "5432",
        "WAREHOUSE_USER": "warehouse",
        "WAREHOUSE_PASSWORD": password,
        "WAREHOUSE_DB": "warehouse",
    }
    subprocess.run(["sh", "-c", script], env=env, check=True)
    local = load_settings(
        POSTGRES_HOST="postgres", POSTGRES_PORT=5432, POSTGRES_USER="warehouse", POSTGRES_PASSWORD=password
    )
    assert (tmp_path / "storage" / "ops_example.com" / "pgpass").read_text() == pgadmin._pgpass_line(local)
    assert pgadmin._pgpass_line(local) == "postgres:5432:*:warehouse:p\\:a\\\\ss\\:\n"


def test_the_airflow_auth_volume_is_writable_by_the_airflow_user():
    """A named volume starts out with the image folder's owner; a missing folder would be root's."""
    mount = next(v for v in COMPOSE["x-airflow"]["volumes"] if v.startswith("airflow-auth:"))
    folder = mount.split(":")[1]
    passwords = COMPOSE["x-airflow"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    assert Path(passwords).parent == Path(folder)
    after_user = DOCKERFILE[DOCKERFILE.rindex("USER airflow") :]
    assert f"RUN mkdir -p {folder}" in after_user


def test_the_warehouse_image_has_the_local_postgresql_major():
    local = sorted(int(p.parent.parent.name) for p in Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    image = SERVICES["postgres"]["image"]
    assert local, "PostgreSQL server packages are not installed"
    assert image.split(":")[1].split(".")[0] == str(local[-1])


def test_every_published_port_comes_from_env():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert re.fullmatch(r"127\.0\.0\.1:\$\{\w+_PORT\}:\d+", port), (name, port)
