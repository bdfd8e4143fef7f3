"""The platform's settings, read once from the environment and `.env`.

Producer, Spark job, DAGs and the local stack all read their configuration here, under the names
of the README's settings table; nothing else reads environment variables for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True
    )

    MONGO_URI: str = "mongodb://127.0.0.1:27017"
    MONGO_DB: str = "lake"

    POSTGRES_HOST: str = "127.0.0.1"
    POSTGRES_PORT: int = Field(5432, ge=1, le=65535)
    POSTGRES_DB: str = "warehouse"
    POSTGRES_USER: str = "warehouse"
    POSTGRES_PASSWORD: SecretStr

    COINCAP_API_KEY: SecretStr | None = None
    COINCAP_BASE_URL: str = "https://rest.coincap.io/v3"
    COINCAP_ASSETS: Annotated[list[str], NoDecode] = ["bitcoin", "ethereum"]

    OPENWEATHER_API_KEY: SecretStr | None = None
    OPENWEATHER_BASE_URL: str = "https://api.openweathermap.org"
    OPENWEATHER_LOCATIONS: Annotated[list[Location], NoDecode] = [
        Location("paris", "Paris", 48.8566, 2.3522)
    ]

    PRODUCER_SOURCE: Literal["auto", "live", "simulated"] = "auto"
    SIMULATOR_SEED: int = 42

    INGEST_COINCAP_SCHEDULE: str = "* * * * *"
    INGEST_OPENWEATHER_SCHEDULE: str = "*/10 * * * *"

    AIRFLOW_UI_PORT: int = Field(8081, ge=1, le=65535)
    AIRFLOW_ADMIN_USER: str = "admin"
    AIRFLOW_ADMIN_PASSWORD: SecretStr = SecretStr("platform-local")
    MONGO_EXPRESS_PORT: int = Field(8082, ge=1, le=65535)
    MONGO_EXPRESS_USER: str = "admin"
    MONGO_EXPRESS_PASSWORD: SecretStr = SecretStr("platform-local")
    PGADMIN_PORT: int = Field(5050, ge=1, le=65535)
    PGADMIN_EMAIL: str = "admin@example.com"
    PGADMIN_PASSWORD: SecretStr = SecretStr("platform-local")

    # At least a minute: the look-back is what reads documents written after a run looked past them.
    ETL_LOOKBACK_MINUTES: int = Field(15, ge=1)
    SPARK_MASTER: str = "local[*]"
    # Where executors on other machines reach the driver (client mode on a cluster); unset locally.
    SPARK_DRIVER_HOST: str | None = None
    SPARK_JARS_DIR: Path = PROJECT_ROOT / ".local" / "jars"
    LOCAL_STATE_DIR: Path = PROJECT_ROOT / ".local"

    @field_validator("COINCAP_API_KEY", "OPENWEATHER_API_KEY", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value):
        return None if isinstance(value, str) and not value.strip() else value

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

    @field_validator("MONGO_URI")
    @classmethod
    def _mongo_scheme(cls, value: str):
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value

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

    @property
    def postgres_conninfo(self) -> dict:
        """Keyword arguments for psycopg.connect (the password travels apart from any URL)."""
        return {
            "host": self.POSTGRES_HOST,
            "port": self.POSTGRES_PORT,
            "dbname": self.POSTGRES_DB,
            "user": self.POSTGRES_USER,
            "password": self.POSTGRES_PASSWORD.get_secret_value(),
        }

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

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.POSTGRES_HOST}:{self.POSTGRES_PORT}/{self.POSTGRES_DB}"


def load_settings(**overrides) -> Settings:
    """Read the settings, turning pydantic's report into one message that names each bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"]) or "settings"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                message = "is required but not set (in the environment or .env)"
            problems.append(f"{name}: {message}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
