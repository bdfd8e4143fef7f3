from pathlib import Path

import pytest
from dotenv import dotenv_values

from market_weather import settings as settings_module
from market_weather.settings import (
    PROJECT_ROOT,
    AirflowSettings,
    ApiSettings,
    CoveredSettings,
    DashboardSettings,
    InboxSettings,
    IntakeSettings,
    LakeReaderSettings,
    LakeServerSettings,
    LakeSettings,
    Location,
    ProducerSettings,
    QualitySettings,
    ScheduleSettings,
    Settings,
    SettingsError,
    SettingsGroup,
    SparkSettings,
    UiSettings,
    WarehouseSettings,
    get_settings,
    load_settings,
)

BASE = {"POSTGRES_PASSWORD": "pw", "_env_file": None}
GROUPS = (
    LakeSettings,
    WarehouseSettings,
    ApiSettings,
    ProducerSettings,
    ScheduleSettings,
    SparkSettings,
    LakeServerSettings,
    LakeReaderSettings,
    UiSettings,
    AirflowSettings,
    QualitySettings,
    DashboardSettings,
    CoveredSettings,
    InboxSettings,
    IntakeSettings,
)


def without_warehouse_password(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every settings group reads a copy of the repository's .env without POSTGRES_PASSWORD, and the
    environment has none either; groups read before are read again."""
    env_file = folder / ".env"
    lines = (PROJECT_ROOT / ".env").read_text().splitlines(keepends=True)
    env_file.write_text("".join(line for line in lines if not line.startswith("POSTGRES_PASSWORD")))
    monkeypatch.delenv("POSTGRES_PASSWORD", raising=False)
    groups, seen = [SettingsGroup], set()
    while groups:
        group = groups.pop()
        if group not in seen:
            seen.add(group)
            monkeypatch.setitem(group.model_config, "env_file", env_file)
            groups += group.__subclasses__()
    settings_module._load_once.cache_clear()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in (
        "POSTGRES_PORT",
        "COINCAP_ASSETS",
        "OPENWEATHER_LOCATIONS",
        "PRODUCER_SOURCE",
        "COINCAP_API_KEY",
        "OPENWEATHER_API_KEY",
        "MONGO_URI",
        "POSTGRES_PASSWORD",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_follow_the_contract():
    s = load_settings(**BASE)
    assert (s.MONGO_DB, s.POSTGRES_DB) == ("lake", "warehouse")
    assert s.COINCAP_BASE_URL == "https://rest.coincap.io/v3"
    assert s.OPENWEATHER_BASE_URL == "https://api.openweathermap.org"
    assert s.PRODUCER_SOURCE == "auto"


def test_lists_are_parsed_from_their_text_forms(monkeypatch):
    monkeypatch.setenv("COINCAP_ASSETS", "bitcoin, binance-coin")
    monkeypatch.setenv("OPENWEATHER_LOCATIONS", "paris:Paris:48.85:2.35; new-york:New York:40.71:-74.0")
    s = load_settings(**BASE)
    assert s.COINCAP_ASSETS == ["bitcoin", "binance-coin"]
    assert s.OPENWEATHER_LOCATIONS == [
        Location("paris", "Paris", 48.85, 2.35),
        Location("new-york", "New York", 40.71, -74.0),
    ]


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("POSTGRES_PORT", "fifty", "POSTGRES_PORT"),
        ("POSTGRES_PORT", "70000", "POSTGRES_PORT"),
        ("OPENWEATHER_LOCATIONS", "paris:48.85:2.35", "id:Name:lat:lon"),
        ("OPENWEATHER_LOCATIONS", "paris:Paris:95:2", "lat must be in"),
        ("COINCAP_ASSETS", "Bitcoin", "COINCAP_ASSETS"),
        ("PRODUCER_SOURCE", "sometimes", "PRODUCER_SOURCE"),
        ("MONGO_URI", "localhost:27017", "MONGO_URI"),
    ],
)
def test_a_malformed_setting_fails_with_its_name(monkeypatch, name, value, words):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=words) as info:
        load_settings(**BASE)
    assert name in str(info.value)


def test_a_missing_password_is_named():
    with pytest.raises(SettingsError, match="POSTGRES_PASSWORD: is required"):
        load_settings(_env_file=None)


def test_auto_source_is_live_only_where_a_key_is_set(monkeypatch):
    monkeypatch.setenv("COINCAP_API_KEY", "abc")
    monkeypatch.setenv("OPENWEATHER_API_KEY", "  ")
    s = load_settings(**BASE)
    assert (s.source_for("coincap"), s.source_for("openweather")) == ("live", "simulated")


def test_forcing_live_without_a_key_names_the_key(monkeypatch):
    monkeypatch.setenv("PRODUCER_SOURCE", "live")
    s = load_settings(**BASE)
    with pytest.raises(SettingsError, match="OPENWEATHER_API_KEY"):
        s.source_for("openweather")


def test_keys_and_password_do_not_show_in_the_settings_repr(monkeypatch):
    monkeypatch.setenv("COINCAP_API_KEY", "super-secret-key")
    s = load_settings(POSTGRES_PASSWORD="hunter2", _env_file=None)
    assert "super-secret-key" not in repr(s) and "hunter2" not in repr(s)


def test_settings_survive_a_round_trip_through_the_environment(monkeypatch):
    original = load_settings(
        POSTGRES_PASSWORD='p%w"d',
        COINCAP_ASSETS="bitcoin,binance-coin",
        COINCAP_API_KEY="k",
        OPENWEATHER_LOCATIONS="paris:Paris:48.85:2.35;ny:New York:40.71:-74.0",
        _env_file=None,
    )
    for name, value in original.as_environment().items():
        monkeypatch.setenv(name, value)
    assert load_settings(_env_file=None) == original


def test_every_group_is_part_of_the_full_settings():
    assert all(issubclass(Settings, group) for group in GROUPS)
    assert set(Settings.model_fields) == {name for group in GROUPS for name in group.model_fields}
    assert [g for g in GROUPS if "POSTGRES_PASSWORD" in g.model_fields] == [WarehouseSettings]


def test_the_producer_starts_without_the_warehouse_password(monkeypatch, tmp_path):
    """What `producer fetch coincap` reads: the lake and the APIs, whatever the warehouse's settings."""
    without_warehouse_password(monkeypatch, tmp_path)
    try:
        producer = get_settings(ProducerSettings)
        assert isinstance(producer, ProducerSettings) and get_settings(ProducerSettings) is producer
        assert producer.COINCAP_ASSETS == dotenv_values(tmp_path / ".env")["COINCAP_ASSETS"].split(","), "read .env"
        assert not hasattr(producer, "POSTGRES_PASSWORD")
        with pytest.raises(SettingsError, match=r"^invalid settings: POSTGRES_PASSWORD: is required"):
            get_settings()
    finally:
        settings_module._load_once.cache_clear()


def test_the_dashboard_starts_with_the_read_only_login_alone(monkeypatch, tmp_path):
    """The dashboard reads the warehouse as DASHBOARD_DB_USER: the owner's login is not among its settings."""
    without_warehouse_password(monkeypatch, tmp_path)
    try:
        dashboard = get_settings(DashboardSettings)
        assert not hasattr(dashboard, "POSTGRES_PASSWORD") and not hasattr(dashboard, "POSTGRES_USER")
        assert dashboard.reader_conninfo["user"] == "dashboard" and dashboard.DASHBOARD_PORT == 8083
    finally:
        settings_module._load_once.cache_clear()


def test_a_group_names_its_bad_setting_in_one_line(monkeypatch):
    monkeypatch.setenv("MONGO_URI", "localhost:27017")
    with pytest.raises(SettingsError, match="^invalid settings: MONGO_URI: must start with mongodb://") as info:
        load_settings(ProducerSettings, _env_file=None)
    assert "\n" not in str(info.value)


def test_the_full_settings_are_every_group_at_once(monkeypatch):
    monkeypatch.setenv("MONGO_URI", "mongodb://lake:27018")
    monkeypatch.setenv("POSTGRES_PASSWORD", "pw")
    full = load_settings(_env_file=None)
    for group in GROUPS:
        part = load_settings(group, _env_file=None)
        assert {name: getattr(full, name) for name in group.model_fields} == dict(part)


def test_airflow_connections_carry_the_settings(monkeypatch):
    """What Airflow code reaches the lake and the warehouse through, parsed back the way Airflow does."""
    from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook
    from airflow.sdk import Connection

    from market_weather.orchestration.connections import airflow_connections

    password = 'p@ss:/w%rd"'
    s = load_settings(
        MONGO_URI="mongodb://r%40ot:l%2Fk@mongo:27017/?authSource=admin",
        MONGO_DB="lake",
        POSTGRES_HOST="db",
        POSTGRES_USER="warehouse",
        POSTGRES_PASSWORD=password,
        SPARK_CONNECT_HOST="sparkhost",
        SPARK_CONNECT_PORT=15010,
        _env_file=None,
    )
    env = airflow_connections(s)
    assert set(env) == {
        "AIRFLOW_CONN_SPARK_CONNECT_DEFAULT",
        "AIRFLOW_CONN_LAKE_MONGO",
        "AIRFLOW_CONN_WAREHOUSE_POSTGRES",
        "AIRFLOW_CONN_INBOX_FS",
    }
    monkeypatch.setenv("AIRFLOW_CONN_INBOX_FS", env["AIRFLOW_CONN_INBOX_FS"])
    from airflow.providers.standard.hooks.filesystem import FSHook

    assert FSHook(fs_conn_id="inbox_fs").get_path() == str(s.INBOX_DIR), "where the inbox's sensor looks"
    spark = Connection.from_json(env["AIRFLOW_CONN_SPARK_CONNECT_DEFAULT"], conn_id="spark_connect_default")
    assert (spark.conn_type, spark.host, spark.port) == ("spark_connect", "sparkhost", 15010)
    monkeypatch.setenv("AIRFLOW_CONN_SPARK_CONNECT_DEFAULT", env["AIRFLOW_CONN_SPARK_CONNECT_DEFAULT"])
    assert SparkConnectHook().get_connection_url() == "sc://sparkhost:15010/;use_ssl=False", "what the loads open"
    lake = Connection.from_uri(env["AIRFLOW_CONN_LAKE_MONGO"], conn_id="lake_mongo")
    assert (lake.conn_type, lake.host, lake.port, lake.login, lake.password) == ("mongo", "mongo", 27017, "r@ot", "l/k")
    assert lake.schema == "lake" and lake.extra_dejson == {"authSource": "admin"}
    warehouse = Connection.from_uri(env["AIRFLOW_CONN_WAREHOUSE_POSTGRES"], conn_id="warehouse_postgres")
    assert (warehouse.conn_type, warehouse.host, warehouse.port) == ("postgres", "db", 5432)
    assert (warehouse.login, warehouse.password, warehouse.schema) == ("warehouse", password, "warehouse")
