"""The platform's settings, read from the environment and `.env`, in groups by component.

Producer, Spark job, DAGs and the local stack all read their configuration here, under the names
of the README's settings table; nothing else reads environment variables for them. Each component
reads only its group (`get_settings(ProducerSettings)`), so the producer, a DAG file or a user
interface starts without the warehouse's password; `Settings` is every group at once, for the
local stack and the Spark job.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, overload

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _project_root() -> Path:
    """The checkout this module is in (it lives in contract/src/market_weather/); installed from a wheel, the
    working directory, where `.env` and the state folder are looked for."""
    checkout = Path(__file__).resolve().parents[3]
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


PROJECT_ROOT = _project_root()


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Location:
    id: str
    name: str
    lat: float
    lon: float


def _parse_locations(raw: str) -> list[Location]:
    locations = []
    for item in filter(None, (part.strip() for part in raw.split(";"))):
        parts = item.split(":")
        if len(parts) != 4:
            raise ValueError(f"{item!r} is not of the form id:Name:lat:lon")
        loc_id, name, lat, lon = (p.strip() for p in parts)
        try:
            lat_f, lon_f = float(lat), float(lon)
        except ValueError:
            raise ValueError(f"{item!r}: lat and lon must be numbers") from None
        if not (-90 <= lat_f <= 90 and -180 <= lon_f <= 180):
            raise ValueError(f"{item!r}: lat must be in [-90, 90] and lon in [-180, 180]")
        if not loc_id:
            raise ValueError(f"{item!r}: the id is empty")
        locations.append(Location(loc_id, name or loc_id, lat_f, lon_f))
    ids = [loc.id for loc in locations]
    if len(set(ids)) != len(ids):
        raise ValueError("location ids must be unique")
    return locations


class SettingsGroup(BaseSettings):
    """What every group shares: where it reads from. A name of another group in `.env` is ignored."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    def as_environment(self) -> dict[str, str]:
        """These settings as environment variables, in the text forms this module parses back."""
        env = {}
        for name, value in self:
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif name == "COINCAP_ASSETS":
                value = ",".join(value)
            elif name == "OPENWEATHER_LOCATIONS":
                value = ";".join(f"{loc.id}:{loc.name}:{loc.lat}:{loc.lon}" for loc in value)
            env[name] = str(value)
        return env


class LakeSettings(SettingsGroup):
    """The raw lake: the producer writes it, the job reads it, the DAGs name its collections as Assets."""

    MONGO_URI: str = "mongodb://127.0.0.1:27017"
    MONGO_DB: str = "lake"

    @field_validator("MONGO_URI")
    @classmethod
    def _mongo_scheme(cls, value: str):
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value


class WarehouseAddress(SettingsGroup):
    """Where the PostgreSQL warehouse answers, whoever logs in."""

    POSTGRES_HOST: str = "127.0.0.1"
    POSTGRES_PORT: int = Field(5432, ge=1, le=65535)
    POSTGRES_DB: str = "warehouse"

    def _conninfo(self, user: str, password: SecretStr) -> dict:
        """Keyword arguments for psycopg.connect (the password travels apart from any URL)."""
        host, port, dbname = self.POSTGRES_HOST, self.POSTGRES_PORT, self.POSTGRES_DB
        return {"host": host, "port": port, "dbname": dbname, "user": user, "password": password.get_secret_value()}


class WarehouseReaderSettings(WarehouseAddress):
    """The warehouse's read-only login (a member of the `warehouse_reader` role the migrations create):
    what the dashboard connects as. It can read every table and view and change nothing."""

    DASHBOARD_DB_USER: str = Field("dashboard", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    DASHBOARD_DB_PASSWORD: SecretStr = SecretStr("dashboard-local")

    @property
    def reader_conninfo(self) -> dict:
        """Keyword arguments for psycopg.connect as the read-only login."""
        return self._conninfo(self.DASHBOARD_DB_USER, self.DASHBOARD_DB_PASSWORD)


class WarehouseSettings(WarehouseReaderSettings):
    """The PostgreSQL warehouse's owner; the only group that needs its password. The migrations run as
    the owner, which also gives the read-only login its password."""

    POSTGRES_USER: str = "warehouse"
    POSTGRES_PASSWORD: SecretStr

    @property
    def postgres_conninfo(self) -> dict:
        """Keyword arguments for psycopg.connect as the owner."""
        return self._conninfo(self.POSTGRES_USER, self.POSTGRES_PASSWORD)


class CoveredSettings(SettingsGroup):
    """What the platform covers: the CoinCap assets and the locations it fetches, and takes in from files."""

    COINCAP_ASSETS: Annotated[list[str], NoDecode] = ["bitcoin", "ethereum"]
    OPENWEATHER_LOCATIONS: Annotated[list[Location], NoDecode] = [Location("paris", "Paris", 48.8566, 2.3522)]

    @field_validator("COINCAP_ASSETS", mode="before")
    @classmethod
    def _split_assets(cls, value):
        if isinstance(value, str):
            value = [slug.strip() for slug in value.split(",") if slug.strip()]
        if not value:
            raise ValueError("name at least one CoinCap asset slug")
        for slug in value:
            if not slug.replace("-", "").isalnum() or slug != slug.lower():
                raise ValueError(f"{slug!r} is not a CoinCap slug such as 'binance-coin'")
        return value

    @field_validator("OPENWEATHER_LOCATIONS", mode="before")
    @classmethod
    def _split_locations(cls, value):
        if isinstance(value, str):
            value = _parse_locations(value)
        if not value:
            raise ValueError("name at least one location as id:Name:lat:lon")
        return value


class ApiSettings(CoveredSettings):
    """CoinCap and OpenWeather: keys, addresses, what to fetch, and live or simulated."""

    COINCAP_API_KEY: SecretStr | None = None
    COINCAP_BASE_URL: str = "https://rest.coincap.io/v3"

    OPENWEATHER_API_KEY: SecretStr | None = None
    OPENWEATHER_BASE_URL: str = "https://api.openweathermap.org"

    PRODUCER_SOURCE: Literal["auto", "live", "simulated"] = "auto"
    SIMULATOR_SEED: int = 42

    @field_validator("COINCAP_API_KEY", "OPENWEATHER_API_KEY", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("COINCAP_BASE_URL", "OPENWEATHER_BASE_URL")
    @classmethod
    def _http_url(cls, value: str):
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    def source_for(self, api: Literal["coincap", "openweather"]) -> Literal["live", "simulated"]:
        """Which source the producer uses for one API: live where its key is set (or forced)."""
        key = self.COINCAP_API_KEY if api == "coincap" else self.OPENWEATHER_API_KEY
        if self.PRODUCER_SOURCE == "simulated":
            return "simulated"
        if self.PRODUCER_SOURCE == "live":
            if key is None:
                name = "COINCAP_API_KEY" if api == "coincap" else "OPENWEATHER_API_KEY"
                raise SettingsError(f"PRODUCER_SOURCE=live but {name} is not set")
            return "live"
        return "live" if key is not None else "simulated"


class ProducerSettings(LakeSettings, ApiSettings):
    """What the producer reads (its CLI and the ingest and backfill tasks): the lake and the APIs."""


class ScheduleSettings(SettingsGroup):
    """When the ingest DAGs run (cron); read when their files are parsed."""

    INGEST_COINCAP_SCHEDULE: str = "* * * * *"
    INGEST_OPENWEATHER_SCHEDULE: str = "*/10 * * * *"


class SparkSettings(SettingsGroup):
    """The Spark job: where it runs, its jars, its late-write window, and the state folder its log goes to."""

    # How long a lake write may take to become visible: a run counts this window before its cut-off,
    # and the next one reads it again when its count changed (a late write landed there).
    ETL_LATE_WRITE_SECONDS: int = Field(30, ge=1, le=3600)
    # Where a load's Spark session runs: `connect` on the Spark Connect server (SPARK_CONNECT_HOST and _PORT),
    # `local` in-process on SPARK_MASTER, `auto` on the server when it answers, else local.
    SPARK_LOAD_SESSION: Literal["auto", "connect", "local"] = "auto"
    SPARK_MASTER: str = "local[*]"
    # The Spark Connect server every scheduled load runs on (`make run` and compose start it), and its UI.
    SPARK_CONNECT_HOST: str = Field("127.0.0.1", min_length=1)
    SPARK_CONNECT_PORT: int = Field(15002, ge=1, le=65535)
    SPARK_CONNECT_UI_PORT: int = Field(4040, ge=1, le=65535)
    # Sessions of a load's queries over an empty window that a newly started server runs before it is warm
    # (`job.warm_up`); 0: none.
    SPARK_CONNECT_WARM_UP_ROUNDS: int = Field(5, ge=0, le=50)
    # A load still running after this long is interrupted on the server and fails with a message saying so.
    LOAD_TIMEOUT_SECONDS: int = Field(1800, ge=10)
    # Where executors on other machines reach the driver (the Connect server's, in compose); unset locally.
    SPARK_DRIVER_HOST: str | None = None
    SPARK_JARS_DIR: Path = PROJECT_ROOT / ".local" / "jars"
    LOCAL_STATE_DIR: Path = PROJECT_ROOT / ".local"
    # The standalone cluster `make run` and compose start: master, its UI, and what the worker offers.
    SPARK_MASTER_PORT: int = Field(7077, ge=1, le=65535)
    SPARK_MASTER_UI_PORT: int = Field(8080, ge=1, le=65535)
    SPARK_WORKER_UI_PORT: int = Field(8084, ge=1, le=65535)
    SPARK_WORKER_CORES: int = Field(2, ge=1)
    SPARK_WORKER_MEMORY: str = Field("1g", pattern=r"^[1-9][0-9]*[mg]$")


class LakeServerSettings(SettingsGroup):
    """Which SecantusDB server the local stack runs as the lake: its Rust server (`rust`, built once by setup),
    its Python server (`python`, the fallback), or `auto`: the Rust one when it is built, else the Python one."""

    LAKE_SERVER: Literal["auto", "rust", "python"] = "auto"
    # The Rust server's WiredTiger cache, within the stack's memory budget (compose's mongo is given 768m).
    LAKE_CACHE_MB: int = Field(256, ge=64, le=65536)


class LakeReaderSettings(SettingsGroup):
    """The lake's read-only login, in MONGO_DB: what Mongo Express and the dashboard read the lake as, in both
    modes. The local stack gives the lake this login and MONGO_URI's on start; compose's mongo on a new volume."""

    LAKE_READER_USER: str = Field("lake_reader", min_length=1)
    LAKE_READER_PASSWORD: SecretStr = SecretStr("lake-reader-local")


class UiSettings(SettingsGroup):
    """The user interfaces: Airflow's, Mongo Express's and pgAdmin's ports and logins."""

    AIRFLOW_UI_PORT: int = Field(8081, ge=1, le=65535)
    AIRFLOW_ADMIN_USER: str = "admin"
    AIRFLOW_ADMIN_PASSWORD: SecretStr = SecretStr("platform-local")
    MONGO_EXPRESS_PORT: int = Field(8082, ge=1, le=65535)
    MONGO_EXPRESS_USER: str = "admin"
    MONGO_EXPRESS_PASSWORD: SecretStr = SecretStr("platform-local")
    PGADMIN_PORT: int = Field(5050, ge=1, le=65535)
    PGADMIN_EMAIL: str = "admin@example.com"
    PGADMIN_PASSWORD: SecretStr = SecretStr("platform-local")


class DashboardSettings(LakeSettings, WarehouseReaderSettings, ScheduleSettings):
    """The dashboard: where it listens, how it reads the warehouse (read-only login) and the lake, and the
    ingest schedules it names while the warehouse waits for its first load."""

    DASHBOARD_PORT: int = Field(8083, ge=1, le=65535)
    # 127.0.0.1 in the local mode; 0.0.0.0 inside its container, published on 127.0.0.1 only.
    DASHBOARD_HOST: str = "127.0.0.1"


class InboxSettings(SettingsGroup):
    """Where files are taken in: the drop folder Airflow watches, and the store of every file taken in, by content."""

    # A file dropped here is taken in within seconds (the intake_inbox DAG), then moved to its `archive/`, or to its
    # `rejected/` with a reason beside it. A name starting with a dot or ending in .part is left alone until renamed.
    INBOX_DIR: Path = PROJECT_ROOT / "inbox"
    # Every file taken in, under its content's SHA-256.
    FILES_DIR: Path = PROJECT_ROOT / ".local" / "files"
    # The largest file taken in (its content once ungzipped, too).
    FILE_MAX_BYTES: int = Field(2 * 1024**3, ge=1024)


class IntakeSettings(LakeSettings, CoveredSettings, InboxSettings):
    """The file intake: its service's address and login, the lake it lands rows in, what the platform covers."""

    INTAKE_PORT: int = Field(8085, ge=1, le=65535)
    # 127.0.0.1 in the local mode; 0.0.0.0 inside its container, published on 127.0.0.1 only.
    INTAKE_HOST: str = "127.0.0.1"
    INTAKE_USER: str = Field("admin", min_length=1)
    INTAKE_PASSWORD: SecretStr = SecretStr("platform-local")


class AirflowSettings(SettingsGroup):
    """Airflow's own metadata database on the platform's PostgreSQL: its role and password."""

    AIRFLOW_DB_USER: str = "airflow"
    AIRFLOW_DB_PASSWORD: SecretStr = SecretStr("airflow-local")


class QualitySettings(SettingsGroup):
    """The warehouse checks' thresholds and where a failed check is announced."""

    # The newest observation of each source may be this old before its freshness check warns.
    QUALITY_FRESHNESS_COINCAP_MINUTES: int = Field(10, ge=1)
    QUALITY_FRESHNESS_WEATHER_MINUTES: int = Field(90, ge=1)
    QUALITY_FRESHNESS_AIR_MINUTES: int = Field(90, ge=1)
    # Missing minutes tolerated inside the m1 price history of all assets together before a warning.
    QUALITY_M1_GAPS_MAX: int = Field(0, ge=0)
    # A failed check is posted here as JSON when set (the URL often holds a token: it is a secret).
    ALERT_WEBHOOK_URL: SecretStr | None = None


class Settings(
    ProducerSettings,
    IntakeSettings,
    WarehouseSettings,
    DashboardSettings,
    ScheduleSettings,
    SparkSettings,
    LakeServerSettings,
    LakeReaderSettings,
    UiSettings,
    AirflowSettings,
    QualitySettings,
):
    """Every group: what the local stack starts with and the Spark job reads."""


G = TypeVar("G", bound=SettingsGroup)


@overload
def load_settings(**overrides: Any) -> Settings: ...
@overload
def load_settings(group: type[G], /, **overrides: Any) -> G: ...
def load_settings(group: type[SettingsGroup] = Settings, /, **overrides: Any) -> SettingsGroup:
    """Read one group (all of them by default), turning pydantic's report into one message that
    names each bad setting."""
    try:
        return group(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"]) or "settings"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = "is required but not set (in the environment or .env)"
            problems.append(f"{name}: {message}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@cache
def _load_once(group: type[SettingsGroup]) -> SettingsGroup:
    return load_settings(group)


@overload
def get_settings() -> Settings: ...
@overload
def get_settings(group: type[G]) -> G: ...
def get_settings(group: type[SettingsGroup] = Settings) -> SettingsGroup:
    """One group's settings (all of them by default), read once per process."""
    return _load_once(group)
