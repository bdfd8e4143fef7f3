"""The data contract: the lake's collections and envelope, the warehouse's tables, the run-id format.

Users query these names in pgAdmin and browse them in Mongo Express; the producer, the job, the
DAGs, the stack and the tests all take them from here. Standard library only, so any part of the
platform (the Spark driver included) imports it without pulling in another part's dependencies.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

# ------------------------------------------------------------------------------------------ lake
COINCAP_ASSETS = "coincap_assets"
COINCAP_HISTORY = "coincap_history"
OPENWEATHER_WEATHER = "openweather_weather"
OPENWEATHER_AIR = "openweather_air"
DEAD_LETTERS = "dead_letters"
RAW_COLLECTIONS = (COINCAP_ASSETS, COINCAP_HISTORY, OPENWEATHER_WEATHER, OPENWEATHER_AIR)
# Rows taken in from files (the file intake), in collections named for what they hold, with the raw collections'
# envelope and indexes (JSON Lines of the APIs' records go to the APIs' own collections); and one document per file.
COINGECKO_HISTORY = "coingecko_history"
OPEN_METEO_WEATHER = "open_meteo_weather"
FILE_COLLECTIONS = (COINGECKO_HISTORY, OPEN_METEO_WEATHER)
FILES = "files"
# Everything the job loads into the warehouse.
LOADED_COLLECTIONS = (*RAW_COLLECTIONS, *FILE_COLLECTIONS)
FILE_SOURCE = "file"

# Bumped when the envelope changes shape; stored in every raw document.
SCHEMA_VERSION = 1
# Every raw document: these fields, `payload` being the record exactly as the API sent it.
ENVELOPE_FIELDS = (
    "source",
    "endpoint",
    "entity_id",
    "observed_at",
    "fetched_at",
    "run_id",
    "schema_version",
    "payload",
)
DEAD_LETTER_FIELDS = ("source", "endpoint", "fetched_at", "run_id", "reason", "payload")
# Re-ingesting a response adds nothing: raw documents are unique on this key.
RAW_UNIQUE_KEY = ("entity_id", "observed_at")
# Incremental reads walk this field's index.
FETCHED_AT = "fetched_at"


# ------------------------------------------------------------------------------------- warehouse
@dataclass(frozen=True)
class Table:
    """A warehouse table as the job writes it: its primary key and its columns, the key first."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.columns[: len(self.key)] != self.key:
            raise ValueError(f"{self.name}: the columns must start with the key {self.key}")

    @property
    def values(self) -> tuple[str, ...]:
        """The columns that are not part of the key."""
        return self.columns[len(self.key) :]


ASSETS = Table(
    "assets",
    ("asset_id",),
    ("asset_id", "symbol", "name", "rank", "supply", "max_supply", "explorer", "updated_at"),
)
ASSET_PRICES = Table(
    "asset_prices",
    ("asset_id", "observed_at"),
    (
        "asset_id",
        "observed_at",
        "price_usd",
        "market_cap_usd",
        "volume_usd_24h",
        "change_percent_24h",
        "vwap_24h",
        "supply",
        "from_file",
    ),
)
ASSET_OHLC = Table(
    "asset_ohlc",
    ("asset_id", "interval", "bucket_start"),
    ("asset_id", "interval", "bucket_start", "open", "high", "low", "close", "points"),
)
LOCATIONS = Table("locations", ("location_id",), ("location_id", "name", "country", "lat", "lon"))
WEATHER_OBSERVATIONS = Table(
    "weather_observations",
    ("location_id", "observed_at"),
    (
        "location_id",
        "observed_at",
        "temp_c",
        "feels_like_c",
        "temp_min_c",
        "temp_max_c",
        "pressure_hpa",
        "humidity_pct",
        "wind_speed_ms",
        "wind_deg",
        "wind_gust_ms",
        "clouds_pct",
        "visibility_m",
        "rain_1h_mm",
        "snow_1h_mm",
        "condition",
        "description",
        "from_file",
    ),
)
AIR_QUALITY = Table(
    "air_quality",
    ("location_id", "observed_at"),
    ("location_id", "observed_at", "aqi", "co", "no", "no2", "o3", "so2", "pm2_5", "pm10", "nh3"),
)
ETL_RUNS = Table(
    "etl_runs",
    ("run_id",),
    (
        "run_id",
        "job",
        "status",
        "started_at",
        "finished_at",
        "watermark_from",
        "watermark_to",
        "rows_read",
        "rows_written",
        "rows_rejected",
        "message",
        "tail_docs",
    ),
)
QUALITY_CHECKS = Table(
    "quality_checks",
    ("id",),
    ("id", "run_id", "check_name", "severity", "status", "observed", "threshold", "detail", "checked_at"),
)
# Filled from the lake by the job's transforms; asset_ohlc is computed from asset_prices in the warehouse.
LOADED_TABLES = (ASSETS, ASSET_PRICES, LOCATIONS, WEATHER_OBSERVATIONS, AIR_QUALITY)
DATA_TABLES = (ASSETS, ASSET_PRICES, ASSET_OHLC, LOCATIONS, WEATHER_OBSERVATIONS, AIR_QUALITY)
WAREHOUSE_TABLES = (*DATA_TABLES, ETL_RUNS, QUALITY_CHECKS)

# OHLC buckets: the interval's name, the unit a bucket starts on and the bucket's width.
OHLC_INTERVALS = (("1m", "minute", "1 minute"), ("1h", "hour", "1 hour"), ("1d", "day", "1 day"))

# ------------------------------------------------------------------------------------------ runs
# Every producer and job run is named `<prefix>__<UTC time>_<8 hex digits>`, the prefix saying who
# started it: `manual`, `backfill`, `demo`, `lake_to_warehouse`, or Airflow's own run id.
RUN_ID_TIME_FORMAT = "%Y%m%dT%H%M%S"


def new_run_id(prefix: str = "manual") -> str:
    return f"{prefix}__{datetime.now(UTC):{RUN_ID_TIME_FORMAT}}_{uuid.uuid4().hex[:8]}"
