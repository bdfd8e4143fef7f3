"""Explicit schemas of the raw lake collections as the Spark job reads them (never inferred).

CoinCap numbers are decimal strings in the lake and are read as strings, to be cast exactly.
"""

from pyspark.sql.types import (
    ArrayType,
    DataType,
    DecimalType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

MONEY = DecimalType(38, 18)


def _struct(*names: str, of: DataType | None = None) -> StructType:
    """A struct of `names`, each of type `of` (strings unless told)."""
    return StructType([StructField(name, StringType() if of is None else of) for name in names])


# Where the connector puts a document, as extended JSON, when a field does not fit its schema type
# (read in PERMISSIVE mode): the transforms reject it with a reason instead of the run failing.
CORRUPT_RECORD = "_corrupt_record"


def _envelope(payload: StructType) -> StructType:
    return StructType(
        [
            StructField("_id", StringType()),
            StructField("source", StringType()),
            StructField("endpoint", StringType()),
            StructField("entity_id", StringType()),
            StructField("observed_at", TimestampType()),
            StructField("fetched_at", TimestampType()),
            StructField("run_id", StringType()),
            StructField("schema_version", LongType()),
            StructField("payload", payload),
            StructField(CORRUPT_RECORD, StringType()),
        ]
    )


COINCAP_ASSETS = _envelope(
    _struct(
        "id",
        "rank",
        "symbol",
        "name",
        "supply",
        "maxSupply",
        "marketCapUsd",
        "volumeUsd24Hr",
        "priceUsd",
        "changePercent24Hr",
        "vwap24Hr",
        "explorer",
    )
)

COINCAP_HISTORY = _envelope(_struct("priceUsd", "time", "circulatingSupply", "date"))

OPENWEATHER_WEATHER = _envelope(
    StructType(
        [
            StructField("coord", _struct("lon", "lat", of=DoubleType())),
            StructField("weather", ArrayType(_struct("main", "description"))),
            StructField(
                "main", _struct("temp", "feels_like", "temp_min", "temp_max", "pressure", "humidity", of=DoubleType())
            ),
            StructField("visibility", DoubleType()),
            StructField("wind", _struct("speed", "deg", "gust", of=DoubleType())),
            StructField("clouds", _struct("all", of=DoubleType())),
            StructField("rain", _struct("1h", of=DoubleType())),
            StructField("snow", _struct("1h", of=DoubleType())),
            StructField("sys", _struct("country")),
            StructField("name", StringType()),
            StructField("dt", LongType()),
        ]
    )
)

OPENWEATHER_AIR = _envelope(
    StructType(
        [
            StructField("main", _struct("aqi", of=DoubleType())),
            StructField("components", _struct("co", "no", "no2", "o3", "so2", "pm2_5", "pm10", "nh3", of=DoubleType())),
            StructField("dt", LongType()),
        ]
    )
)

# A CoinGecko export's row as read (text), and an Open-Meteo export's as the intake converted it: `values` in the
# warehouse's units, named for its columns (the row as read, in `payload`, is not read by the job).
COINGECKO_HISTORY = _envelope(_struct("snapped_at", "price", "market_cap", "total_volume"))

OPEN_METEO_VALUES = (
    "temp_c",
    "feels_like_c",
    "pressure_hpa",
    "humidity_pct",
    "wind_speed_ms",
    "wind_deg",
    "wind_gust_ms",
    "clouds_pct",
    "visibility_m",
    "rain_1h_mm",
)
OPEN_METEO_WEATHER = StructType(
    [
        field
        if field.name != "payload"
        else StructField(
            "values",
            StructType(
                [StructField(name, DoubleType()) for name in OPEN_METEO_VALUES]
                + [StructField("condition", StringType()), StructField("description", StringType())]
            ),
        )
        for field in _envelope(StructType()).fields
    ]
    + [StructField("line", LongType())]
)

RAW_SCHEMAS = {
    "coincap_assets": COINCAP_ASSETS,
    "coincap_history": COINCAP_HISTORY,
    "openweather_weather": OPENWEATHER_WEATHER,
    "openweather_air": OPENWEATHER_AIR,
    "coingecko_history": COINGECKO_HISTORY,
    "open_meteo_weather": OPEN_METEO_WEATHER,
}
