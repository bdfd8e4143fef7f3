"""The Docker stack, proved statically (no Docker engine here): it shares settings names, versions,
SQL files and the DAG folder with the local mode that the other tests run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values
from pymongo.uri_parser import parse_uri

from market_weather.dashboard import assets
from market_weather.orchestration.connections import airflow_connections
from market_weather.settings import PROJECT_ROOT, DashboardSettings, Settings, load_settings
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
DASHBOARD = SERVICES["dashboard"]


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
    """The port table of the "Docker" section of docs/operations.md, which the README links to."""
    page = (PROJECT_ROOT / "docs" / "operations.md").read_text()
    section = page[page.index("## Docker") :].split("\n## ", 1)[0]
    table = dict(re.findall(r"^\| `([\w-]+)` \| (\d+) \|", section, re.M))
    assert {name: int(port) for name, port in table.items()} == published_ports()
    assert published_ports() == {
        "mongo": 27017,
        "mongo-express": 8082,
        "postgres": 5432,
        "pgadmin": 5050,
        "spark-master": 8080,
        "spark-connect": 4040,
        "airflow-apiserver": 8081,
        "dashboard": 8083,
        "intake": 8085,
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
    assert ".sql" not in (PROJECT_ROOT / "postgres/initdb.sh").read_text()


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


# ------------------------------------------------------------------------------------------- dashboard
OWNER_LOGINS = ("POSTGRES_USER", "POSTGRES_PASSWORD", "MONGO_ROOT_USER", "MONGO_ROOT_PASSWORD")


def test_the_dashboard_runs_from_the_platform_image_without_airflows_environment():
    """Airflow's image, not its settings: no .env (which holds the owners' passwords), no Airflow name."""
    airflow = COMPOSE["x-airflow"]
    assert (DASHBOARD["build"], DASHBOARD["image"]) == (airflow["build"], airflow["image"])
    assert "env_file" not in DASHBOARD and "volumes" not in DASHBOARD
    env = DASHBOARD["environment"]
    assert set(env) == set(DashboardSettings.model_fields), "what the dashboard reads, and nothing else"
    values = " ".join(str(value) for value in env.values())
    for name in (*OWNER_LOGINS, "AIRFLOW_DB_USER", "AIRFLOW_DB_PASSWORD"):
        assert name not in env and f"${{{name}}}" not in values, name
    # The image's entrypoint would wait for Airflow's database first; the dashboard has none.
    assert DASHBOARD["entrypoint"] == ["/usr/bin/dumb-init", "--"]
    assert DASHBOARD["command"] == ["python", "-m", "market_weather.dashboard"]


def test_the_dashboards_compose_settings_load():
    env = {name: interpolate(str(value)) for name, value in DASHBOARD["environment"].items()}
    settings = load_settings(DashboardSettings, **env)
    assert (settings.POSTGRES_HOST, settings.POSTGRES_PORT) == ("postgres", 5432)
    assert (settings.DASHBOARD_HOST, settings.DASHBOARD_PORT) == ("0.0.0.0", 8083)


def test_the_dashboard_reads_the_warehouse_as_the_login_airflow_init_creates():
    """airflow-init's migrations (market_weather.warehouse.migrate) create DASHBOARD_DB_USER with the
    password of .env; the dashboard logs in as that login, never as the warehouse's owner."""
    env = DASHBOARD["environment"]
    assert env["DASHBOARD_DB_USER"] == "${DASHBOARD_DB_USER}"
    assert env["DASHBOARD_DB_PASSWORD"] == "${DASHBOARD_DB_PASSWORD}"
    assert ENV["DASHBOARD_DB_USER"] not in (ENV["POSTGRES_USER"], ENV["AIRFLOW_DB_USER"])
    assert ENV["DASHBOARD_DB_PASSWORD"] != ENV["POSTGRES_PASSWORD"]
    # airflow-init reads both names from .env, unchanged.
    init = SERVICES["airflow-init"]
    assert init["env_file"] == ".env" and not {"DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD"} & set(init["environment"])
    assert "python -m market_weather.warehouse.migrate" in " ".join(init["command"])


def test_the_dashboard_starts_once_its_logins_exist():
    assert DASHBOARD["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "mongo": {"condition": "service_healthy"},
        "airflow-init": {"condition": "service_completed_successfully"},
    }


def test_the_dashboards_healthcheck_asks_its_health_endpoint():
    port = DASHBOARD["environment"]["DASHBOARD_PORT"]
    assert DASHBOARD["ports"] == [f"127.0.0.1:${{DASHBOARD_PORT}}:{port}"]
    test = DASHBOARD["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert f"urlopen('http://127.0.0.1:{port}/api/health'" in test[3]
    assert '@app.get("/api/health"' in (PROJECT_ROOT / "dashboard/src/market_weather/dashboard/app.py").read_text()
    assert DASHBOARD["restart"] == "unless-stopped"


def run_lake_reader(**env: str) -> subprocess.CompletedProcess:
    """docker/mongo/lake-reader.js run by node, with a stand-in for mongosh's `db` that prints each user
    the script creates, as {"db": <database>, **createUser's argument}."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (the dashboard's assets need npm too: sudo apt-get install -y npm)")
    harness = """
        const created = [];
        const db = { getSiblingDB: (name) => ({ createUser: (user) => created.push({ db: name, ...user }) }) };
        const script = require("fs").readFileSync(process.argv[1], "utf8");
        require("vm").runInNewContext(script, { db, process: { env: process.env } });
        console.log(JSON.stringify(created));
    """
    script = PROJECT_ROOT / "docker/mongo/lake-reader.js"
    return subprocess.run(
        [node, "-e", harness, str(script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_dashboard_reads_the_lake_as_the_read_only_login_the_mongo_image_creates():
    mongo = SERVICES["mongo"]
    assert "./docker/mongo/lake-reader.js:/docker-entrypoint-initdb.d/10_lake_reader.js:ro" in mongo["volumes"]
    names = ("MONGO_DB", "LAKE_READER_USER", "LAKE_READER_PASSWORD")
    assert {name: mongo["environment"][name] for name in names} == {name: f"${{{name}}}" for name in names}
    result = run_lake_reader(**{name: interpolate(mongo["environment"][name]) for name in names})
    assert result.returncode == 0, result.stderr
    [user] = json.loads(result.stdout)

    uri = parse_uri(interpolate(DASHBOARD["environment"]["MONGO_URI"]))
    assert uri["nodelist"] == [("mongo", 27017)]
    assert (uri["username"], uri["password"]) == (user["user"], user["pwd"])
    assert uri["database"] == uri["options"]["authSource"] == user["db"] == ENV["MONGO_DB"]
    assert user["roles"] == [{"role": "read", "db": ENV["MONGO_DB"]}], "read-only, on the lake alone"
    assert user["user"] != ENV["MONGO_ROOT_USER"]


def test_the_lake_reader_script_stops_the_first_start_when_a_name_is_missing():
    result = run_lake_reader(MONGO_DB="lake", LAKE_READER_USER="lake_reader")
    assert result.returncode != 0 and "LAKE_READER_PASSWORD is not set" in result.stderr


def test_the_image_carries_the_dashboards_pinned_browser_libraries():
    """The image runs `npm ci` on the committed package-lock.json in a build stage and puts the packages
    where the dashboard serves them from (market_weather/dashboard/assets.py)."""
    args = dict(re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE, re.M))
    assert re.fullmatch(r"\d+\.\d+\.\d+", args["NODE_VERSION"]), "an exact Node.js release"
    assert "FROM node:${NODE_VERSION}-bookworm-slim AS assets" in DOCKERFILE
    lock = assets.PACKAGE_DIR.relative_to(PROJECT_ROOT) / "package-lock.json"
    assert f"{lock.with_name('package.json')} {lock} ./" in DOCKERFILE
    assert "RUN npm ci --omit=dev --no-audit --no-fund" in DOCKERFILE
    target = Path("/opt/platform") / (assets.PACKAGE_DIR / "node_modules").relative_to(PROJECT_ROOT)
    assert f"COPY --from=assets --chown=airflow:0 /assets/node_modules {target}\n" in DOCKERFILE
    assert "WORKDIR /opt/platform\n" in DOCKERFILE, "the project root in the image"
    assert "**/node_modules" in (PROJECT_ROOT / ".dockerignore").read_text().split()
    # The Python side: the dashboard's extra, installed beside Airflow's.
    [extras] = re.findall(r'-e "\.\[([\w,]+)\]"', DOCKERFILE)
    assert {"airflow", "dashboard"} <= set(extras.split(","))
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert "dashboard" in pyproject["project"]["optional-dependencies"]
