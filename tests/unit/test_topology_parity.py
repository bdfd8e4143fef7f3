"""One topology in both modes: the local stack's program definitions and docker-compose.yml agree on the
components, their commands, Airflow's settings, the connections, the Spark cluster, the databases and the
migrations. A change to one file that the other does not follow fails here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyspark
import pytest
from pymongo.uri_parser import parse_uri

from market_weather.orchestration.connections import SPARK_CONNECT_CONN_ID, airflow_connections
from market_weather.settings import PROJECT_ROOT, DashboardSettings, IntakeSettings, load_settings
from market_weather.stack import airflow_local, mongo_express, spark_cluster
from market_weather.stack.programs import AFTER_API_SERVER, COMPOSE_SERVICES, CORE, PLATFORM
from market_weather.stack.services import LocalStack
from tests.unit.test_compose import COMPOSE, ENV, ONE_SHOT, SERVICES, interpolate

COMPOSE_VOLUMES = COMPOSE["volumes"]
AIRFLOW_ENV = {name: interpolate(str(value)) for name, value in SERVICES["airflow-scheduler"]["environment"].items()}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The local stack's programs as `make run` would write them, on settings of the .env defaults."""
    state = tmp_path_factory.mktemp("state")
    stack = LocalStack(load_settings(LOCAL_STATE_DIR=state))
    return {program.name: program for program in stack._programs(CORE + PLATFORM)}


def test_every_compose_service_is_a_local_program_and_back():
    assert sorted(COMPOSE_SERVICES) == sorted(CORE + PLATFORM)
    assert sorted(COMPOSE_SERVICES.values()) == sorted(set(SERVICES) - ONE_SHOT)


@pytest.mark.parametrize("program", airflow_local.COMPONENTS)
def test_airflow_components_run_the_same_command(local, program):
    compose = SERVICES[COMPOSE_SERVICES[program]]["command"]
    argv = local[program].command
    assert Path(argv[0]).name == compose[0] == "airflow"
    assert argv[1:] == compose[1:], "same subcommand and options (log server off where logs are shared)"


def test_airflow_settings_have_the_same_names_in_both_modes(local):
    for program in airflow_local.COMPONENTS:
        names = {name for name in local[program].environment if name.startswith("AIRFLOW__")}
        assert names == {name for name in AIRFLOW_ENV if name.startswith("AIRFLOW__")}, program


def test_airflow_settings_have_the_same_values_where_the_modes_can_agree(local):
    """What differs is a host name or a path of the container; everything else is the one `shared_config`."""
    expected = airflow_local.shared_config(
        sql_alchemy_conn=(
            f"postgresql+psycopg2://{ENV['AIRFLOW_DB_USER']}:{ENV['AIRFLOW_DB_PASSWORD']}"
            f"@postgres:5432/{airflow_local.AIRFLOW_DB}"
        ),
        execution_api="http://airflow-apiserver:8080/execution/",
        dags_folder="/opt/platform/dags",
        passwords_file="/opt/airflow/auth/passwords.json",
        admin_user=str(ENV["AIRFLOW_ADMIN_USER"]),
    )
    assert {name: AIRFLOW_ENV[name] for name in expected} == expected
    env = local["airflow_scheduler"].environment
    port = env["AIRFLOW__API__PORT"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith(f"@127.0.0.1:{ENV['POSTGRES_PORT']}/airflow")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://127.0.0.1:{port}/execution/"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1" and AIRFLOW_ENV["AIRFLOW__API__HOST"] == "0.0.0.0"
    assert AIRFLOW_ENV["AIRFLOW__API__BASE_URL"] == env["AIRFLOW__API__BASE_URL"] == f"http://127.0.0.1:{port}"


def test_every_airflow_program_shares_one_set_of_keys(local):
    keys = ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")
    values = {tuple(local[p].environment[k] for k in keys) for p in airflow_local.COMPONENTS}
    assert len(values) == 1 and all(values.pop())
    for name in airflow_local.COMPONENTS:
        service = SERVICES[COMPOSE_SERVICES[name]]["environment"]
        assert [service[k] for k in keys] == ["${AIRFLOW_FERNET_KEY}", "${AIRFLOW_JWT_SECRET}"]


def test_airflow_components_wait_for_the_api_server_in_both_modes():
    waits = {
        name
        for name in airflow_local.COMPONENTS
        if SERVICES[COMPOSE_SERVICES[name]].get("depends_on", {}).get("airflow-apiserver")
        == {"condition": "service_healthy"}
    }
    assert waits == set(AFTER_API_SERVER)


def test_the_connections_point_at_each_modes_own_services(local):
    env = local["airflow_scheduler"].environment
    settings = load_settings(**{name: value for name, value in env.items() if not name.startswith("AIRFLOW")})
    assert {name: env[name] for name in airflow_connections(settings)} == airflow_connections(settings)
    spark = f"AIRFLOW_CONN_{SPARK_CONNECT_CONN_ID.upper()}"
    local_server, compose_server = json.loads(env[spark]), json.loads(AIRFLOW_ENV[spark])
    assert (local_server["host"], local_server["port"]) == ("127.0.0.1", int(str(ENV["SPARK_CONNECT_PORT"])))
    assert (compose_server["host"], compose_server["port"]) == ("spark-connect", 15002)
    assert local_server["conn_type"] == compose_server["conn_type"] == "spark_connect"
    assert local_server["extra"] == compose_server["extra"]
    assert {name for name in env if name.startswith("AIRFLOW_CONN_")} == {
        name for name in AIRFLOW_ENV if name.startswith("AIRFLOW_CONN_")
    }


def test_the_spark_cluster_is_a_master_and_a_worker_of_one_version(local):
    master, worker = SERVICES["spark-master"], SERVICES["spark-worker"]
    assert master["command"][1] == local["spark_master"].command[1] == spark_cluster.MASTER_CLASS
    assert worker["command"][1] == local["spark_worker"].command[1] == spark_cluster.WORKER_CLASS
    assert Path(local["spark_master"].command[0]).parent.parent == Path(pyspark.__file__).parent
    for image in (master["image"], worker["image"]):
        assert image.split(":")[1].split("-")[0] == pyspark.__version__
    # The worker offers what the same settings say in both modes.
    command = local["spark_worker"].command
    offered = {"cores": command[command.index("--cores") + 1], "memory": command[command.index("--memory") + 1]}
    assert offered == {"cores": ENV["SPARK_WORKER_CORES"], "memory": ENV["SPARK_WORKER_MEMORY"]}
    assert worker["environment"]["SPARK_WORKER_CORES"] == "${SPARK_WORKER_CORES}"
    assert worker["environment"]["SPARK_WORKER_MEMORY"] == "${SPARK_WORKER_MEMORY}"
    assert master["ports"] == ["127.0.0.1:${SPARK_MASTER_UI_PORT}:8080"]


def test_the_spark_connect_server_runs_the_same_module_on_the_cluster_in_both_modes(local):
    compose, argv = SERVICES["spark-connect"]["command"], local["spark_connect"].command
    assert Path(argv[0]).name.startswith("python") and compose[0] == "python"
    assert argv[1:4] == compose[1:4] == ["-m", "market_weather.job.connect", "serve"]
    master = argv[argv.index("--master") + 1]
    assert master == spark_cluster.master_url(load_settings(**local["spark_connect"].environment))
    compose_master = compose[compose.index("--master") + 1]
    assert compose_master == "spark://spark-master:7077" == SERVICES["spark-worker"]["command"][2]
    assert "--bind" not in argv, "loopback, the default" and compose[compose.index("--bind") + 1] == "0.0.0.0"
    # The platform's image: the Spark that pyspark ships and the job's jars, as locally.
    assert SERVICES["spark-connect"]["image"] == SERVICES["airflow-scheduler"]["image"]
    env = SERVICES["spark-connect"]["environment"]
    assert env["SPARK_CONNECT_PORT"] == AIRFLOW_ENV["SPARK_CONNECT_PORT"] == "15002"
    ui = env["SPARK_CONNECT_UI_PORT"]
    assert SERVICES["spark-connect"]["ports"] == [f"127.0.0.1:${{SPARK_CONNECT_UI_PORT}}:{ui}"]
    assert "spark-connect" in SERVICES["airflow-scheduler"]["depends_on"], "its tasks' sessions run there"


def test_every_local_listener_binds_loopback(local):
    for name, program in local.items():
        assert all(host == "127.0.0.1" for host, _, _ in program.ports), name
    for name in ("spark_master", "spark_worker"):
        argv = local[name].command
        assert argv[argv.index("--host") + 1] == "127.0.0.1"
        assert local[name].environment["SPARK_LOCAL_IP"] == "127.0.0.1", "their web UIs bind this"
    assert local["spark_connect"].environment["SPARK_LOCAL_IP"] == "127.0.0.1", "the loads' driver, its UI"
    assert "-c" in local["postgres"].command and "listen_addresses=127.0.0.1" in local["postgres"].command


def test_airflows_database_is_made_alike_in_both_modes():
    initdb = (PROJECT_ROOT / "postgres" / "initdb.sh").read_text()
    assert "AIRFLOW_DB_USER" in initdb and "AIRFLOW_DB_PASSWORD" in initdb
    assert re.search(rf"CREATE DATABASE {airflow_local.AIRFLOW_DB}\b", initdb)
    environment = SERVICES["postgres"]["environment"]
    assert environment["AIRFLOW_DB_USER"] == "${AIRFLOW_DB_USER}"


def test_both_modes_migrate_the_warehouse_with_the_same_module():
    init = " ".join(SERVICES["airflow-init"]["command"])
    assert "python -m market_weather.warehouse.migrate" in init
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert not any("migrations" in pattern or pattern.startswith("market_weather") for pattern in ignored)


def test_mongo_express_is_read_only_in_both_modes(tmp_path):
    _, env = mongo_express.command(load_settings(), tmp_path / "app.js")
    compose = SERVICES["mongo-express"]["environment"]
    assert env["ME_CONFIG_OPTIONS_READONLY"] == compose["ME_CONFIG_OPTIONS_READONLY"] == "true"
    assert env["ME_CONFIG_MONGODB_ENABLE_ADMIN"] == compose["ME_CONFIG_MONGODB_ENABLE_ADMIN"] == "false"


def reader(uri: str) -> tuple:
    """A URI's login, database and authSource: what it may do, not where the lake answers."""
    parsed = parse_uri(uri)
    return parsed["username"], parsed["password"], parsed["database"], parsed["options"].get("authSource")


def test_mongo_express_and_the_dashboard_read_the_lake_as_its_read_only_login_in_both_modes(tmp_path, local):
    """Never the pipeline's login: the lake's reader, on MONGO_DB, in each mode and for each of the two."""
    _, express = mongo_express.command(load_settings(), tmp_path / "app.js")
    expected = (ENV["LAKE_READER_USER"], ENV["LAKE_READER_PASSWORD"], ENV["MONGO_DB"], ENV["MONGO_DB"])
    assert reader(express["ME_CONFIG_MONGODB_URL"]) == expected
    assert reader(interpolate(SERVICES["mongo-express"]["environment"]["ME_CONFIG_MONGODB_URL"])) == expected
    assert reader(local["dashboard"].environment["MONGO_URI"]) == expected
    assert reader(interpolate(SERVICES["dashboard"]["environment"]["MONGO_URI"])) == expected
    owner = parse_uri(str(ENV["MONGO_URI"]))
    assert (owner["username"], owner["password"]) == (ENV["MONGO_ROOT_USER"], ENV["MONGO_ROOT_PASSWORD"]), (
        "the pipeline's login is the same in both modes"
    )


def test_the_dashboard_runs_the_same_module_in_both_modes(local):
    argv = local["dashboard"].command
    compose = SERVICES[COMPOSE_SERVICES["dashboard"]]["command"]
    assert Path(argv[0]).name.startswith("python") and compose[0] == "python"
    assert argv[1:] == compose[1:] == ["-m", "market_weather.dashboard"]


def test_the_dashboard_gets_the_same_settings_names_in_both_modes(local):
    """The dashboard's settings and nothing else, in both modes: never the warehouse owner's login."""
    env = local["dashboard"].environment
    compose = SERVICES[COMPOSE_SERVICES["dashboard"]]["environment"]
    assert set(env) == set(compose) == set(DashboardSettings.model_fields)
    for owner in ("POSTGRES_USER", "POSTGRES_PASSWORD"):
        assert owner not in env and owner not in compose


def test_the_dashboard_settings_agree_where_the_modes_can(local):
    """What differs is where the stores answer and the host the dashboard binds: loopback locally, every
    interface of its container in compose (published on loopback)."""
    env = local["dashboard"].environment
    compose = {name: interpolate(str(value)) for name, value in SERVICES["dashboard"]["environment"].items()}
    for name in ("POSTGRES_DB", "MONGO_DB", "DASHBOARD_DB_USER", "DASHBOARD_DB_PASSWORD"):
        assert env[name] == compose[name] == ENV[name], name
    assert env["DASHBOARD_HOST"] == "127.0.0.1" and compose["DASHBOARD_HOST"] == "0.0.0.0"
    # The port the browser opens is DASHBOARD_PORT in both modes.
    assert env["DASHBOARD_PORT"] == ENV["DASHBOARD_PORT"]
    assert SERVICES["dashboard"]["ports"] == [f"127.0.0.1:${{DASHBOARD_PORT}}:{compose['DASHBOARD_PORT']}"]
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("127.0.0.1", ENV["POSTGRES_PORT"])
    assert (compose["POSTGRES_HOST"], compose["POSTGRES_PORT"]) == ("postgres", "5432")
    assert parse_uri(env["MONGO_URI"])["nodelist"] == parse_uri(str(ENV["MONGO_URI"]))["nodelist"]
    assert parse_uri(compose["MONGO_URI"])["nodelist"] == [("mongo", 27017)]


def test_the_dashboard_starts_after_the_warehouse_migrations_in_both_modes(local):
    """Its read-only login exists once the migrations ran: airflow-init in compose; locally `start` runs
    them after the core and only then starts the PLATFORM programs, which supervisord does not autostart."""
    assert "dashboard" in PLATFORM and "dashboard" not in CORE
    assert local["dashboard"].autostart is False
    depends = SERVICES["dashboard"]["depends_on"]
    assert depends["airflow-init"] == {"condition": "service_completed_successfully"}
    assert "python -m market_weather.warehouse.migrate" in " ".join(SERVICES["airflow-init"]["command"])


# ---------------------------------------------------------------------------------------------- intake
INTAKE = SERVICES["intake"]


def test_the_intake_runs_the_same_module_with_the_same_settings_names_in_both_modes(local):
    """The intake's settings and nothing else, in both modes: no warehouse login, no API key."""
    argv, compose = local["intake"].command, INTAKE["command"]
    assert Path(argv[0]).name.startswith("python") and compose[0] == "python"
    assert argv[1:] == compose[1:] == ["-m", "market_weather.intake"]
    env = local["intake"].environment
    assert set(env) == set(INTAKE["environment"]) == set(IntakeSettings.model_fields)
    for secret in ("POSTGRES_PASSWORD", "COINCAP_API_KEY", "OPENWEATHER_API_KEY", "AIRFLOW_DB_PASSWORD"):
        assert secret not in env and secret not in INTAKE["environment"]
    assert "env_file" not in INTAKE, ".env holds the warehouse's owner's password"


def test_the_intake_settings_agree_where_the_modes_can(local):
    env = local["intake"].environment
    compose = {name: interpolate(str(value)) for name, value in INTAKE["environment"].items()}
    for name in ("MONGO_DB", "COINCAP_ASSETS", "INTAKE_USER", "INTAKE_PASSWORD"):
        assert env[name] == compose[name] == ENV[name], name
    covered = load_settings(IntakeSettings, _env_file=None, **env), load_settings(IntakeSettings, **compose)
    assert covered[0].OPENWEATHER_LOCATIONS == covered[1].OPENWEATHER_LOCATIONS
    assert env["FILE_MAX_BYTES"] == compose["FILE_MAX_BYTES"] == ENV["FILE_MAX_BYTES"]
    assert env["INTAKE_HOST"] == "127.0.0.1" and compose["INTAKE_HOST"] == "0.0.0.0"
    assert env["INTAKE_PORT"] == ENV["INTAKE_PORT"]
    assert INTAKE["ports"] == [f"127.0.0.1:${{INTAKE_PORT}}:{compose['INTAKE_PORT']}"]
    # The lake's pipeline login in both modes: the intake lands rows.
    owner = parse_uri(str(ENV["MONGO_URI"]))
    for uri in (env["MONGO_URI"], compose["MONGO_URI"]):
        assert (parse_uri(uri)["username"], parse_uri(uri)["password"]) == (owner["username"], owner["password"])
    assert parse_uri(compose["MONGO_URI"])["nodelist"] == [("mongo", 27017)]


def test_the_drop_folder_is_where_the_intake_and_airflows_inbox_look_in_both_modes(local):
    """Locally one folder (INBOX_DIR) for the intake and the inbox's connection; in compose the files volume, mounted
    in the intake and every Airflow component (the triggerer's sensor looks, the scheduler's task takes)."""
    settings = load_settings(LOCAL_STATE_DIR=Path("/unused"))
    inbox = json.loads(airflow_connections(settings)["AIRFLOW_CONN_INBOX_FS"])
    assert inbox == {"conn_type": "fs", "extra": {"path": local["intake"].environment["INBOX_DIR"]}}
    compose_inbox = json.loads(AIRFLOW_ENV["AIRFLOW_CONN_INBOX_FS"])["extra"]["path"]
    assert compose_inbox == INTAKE["environment"]["INBOX_DIR"] == AIRFLOW_ENV["INBOX_DIR"]
    for name in ("intake", "airflow-scheduler", "airflow-triggerer"):
        mounts = {m.split(":")[1]: m.split(":")[0] for m in SERVICES[name]["volumes"] if ":" in m}
        assert mounts.get("/opt/platform/files") == "files", name
        assert compose_inbox.startswith("/opt/platform/files/")
    assert "files" in COMPOSE_VOLUMES
