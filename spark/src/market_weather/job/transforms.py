"""Pure DataFrame -> DataFrame transforms from raw lake documents to warehouse rows.

Each `*_rows` function types one raw collection and adds a `reason` column, null when the record is
valid: its typing checks first, then the collection's plausibility rules (job.rules). `valid` and
`rejected` split on it; the table functions deduplicate into the exact columns of the warehouse tables.
`to_warehouse` chains them all: raw frames in, table frames, rejects and their tally out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from market_weather.contract import (
    AIR_QUALITY,
    ASSET_PRICES,
    ASSETS,
    COINCAP_ASSETS,
    COINCAP_HISTORY,
    COINGECKO_HISTORY,
    LOCATIONS,
    OPEN_METEO_WEATHER,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    WEATHER_OBSERVATIONS,
)
from market_weather.job import rules
from market_weather.job.schemas import CORRUPT_RECORD, MONEY, OPEN_METEO_VALUES, RAW_SCHEMAS

REJECTED_COLUMNS = ("collection", "_id", "entity_id", "reason")
# A producer's clock may run a little ahead of the job's; a document fetched further ahead is refused.
FETCHED_AT_AHEAD_MAX_MINUTES = 5


def _reasons(*checks: tuple[Column, str]) -> Column:
    """The messages of the checks that fail, joined; null when all pass."""
    joined = F.concat_ws("; ", *(F.when(failed, F.lit(message)) for failed, message in checks))
    return F.when(joined == "", F.lit(None)).otherwise(joined)


def _with_rules(typed: DataFrame, collection: str) -> DataFrame:
    """`typed` with the failures of the collection's plausibility rules added to its typing reasons.

    The rules read the typed columns: a value its typing refused is null there and breaks no rule.
    """
    joined = F.concat_ws("; ", F.col("reason"), _reasons(*rules.checks(collection)))
    return typed.withColumn("reason", F.when(joined == "", F.lit(None)).otherwise(joined))


# A non-zero number whose exponent is written with seven digits or more: Spark's decimal cast takes
# minutes over 1e-100000000 and fails the whole job over 5e-2147483647, so such text is not cast (the
# producer refuses the same, producer.casts.HUGE_EXPONENT).
HUGE_EXPONENT = r"^[\s+-]*[0-9.]*[1-9][0-9.]*[eE][+-]?0*[0-9]{7,}\s*$"


def _money(raw: Column) -> Column:
    return F.when(~raw.rlike(HUGE_EXPONENT), raw.try_cast(MONEY))


def _required_decimal(raw: Column, name: str) -> tuple[Column, str]:
    return raw.isNull() | _money(raw).isNull(), f"{name}: missing or not a decimal"


def _optional_decimal(raw: Column, name: str) -> tuple[Column, str]:
    return raw.isNotNull() & _money(raw).isNull(), f"{name}: not a decimal"


def _blank_is_null(raw: Column) -> Column:
    """A CSV's empty cell as null (the APIs send null)."""
    return F.nullif(F.trim(raw), F.lit(""))


def _envelope_checks() -> list[tuple[Column, str]]:
    fetched_at = F.col("fetched_at")
    return [
        (F.col(CORRUPT_RECORD).isNotNull(), "document: a field does not have the type the job reads"),
        (fetched_at.isNull(), "fetched_at: missing or not a date"),
        (
            fetched_at > F.current_timestamp() + F.expr(f"INTERVAL {FETCHED_AT_AHEAD_MAX_MINUTES} MINUTES"),
            f"fetched_at: more than {FETCHED_AT_AHEAD_MAX_MINUTES} minutes after the job's clock",
        ),
        (F.col("entity_id").isNull() | (F.col("entity_id") == ""), "entity_id: missing"),
        (F.col("observed_at").isNull(), "observed_at: missing"),
    ]


def _envelope(key: str) -> list:
    """The envelope columns every typed frame keeps, with entity_id also under its table's key name."""
    return ["_id", "fetched_at", F.col("entity_id").alias(key), "entity_id", "observed_at"]


def coincap_asset_rows(raw: DataFrame) -> DataFrame:
    p = F.col("payload")
    return _with_rules(
        raw.select(
            *_envelope("asset_id"),
            p["symbol"].alias("symbol"),
            p["name"].alias("name"),
            p["rank"].try_cast("int").alias("rank"),
            _money(p["supply"]).alias("supply"),
            _money(p["maxSupply"]).alias("max_supply"),
            F.nullif(p["explorer"], F.lit("")).alias("explorer"),
            _money(p["priceUsd"]).alias("price_usd"),
            _money(p["marketCapUsd"]).alias("market_cap_usd"),
            _money(p["volumeUsd24Hr"]).alias("volume_usd_24h"),
            _money(p["changePercent24Hr"]).alias("change_percent_24h"),
            _money(p["vwap24Hr"]).alias("vwap_24h"),
            _reasons(
                *_envelope_checks(),
                _required_decimal(p["priceUsd"], "priceUsd"),
                _required_decimal(p["supply"], "supply"),
                (p["symbol"].isNull() | p["name"].isNull(), "symbol or name: missing"),
                (p["rank"].isNotNull() & p["rank"].try_cast("int").isNull(), "rank: not an integer"),
                _optional_decimal(p["maxSupply"], "maxSupply"),
                _optional_decimal(p["marketCapUsd"], "marketCapUsd"),
                _optional_decimal(p["volumeUsd24Hr"], "volumeUsd24Hr"),
                _optional_decimal(p["changePercent24Hr"], "changePercent24Hr"),
                _optional_decimal(p["vwap24Hr"], "vwap24Hr"),
            ).alias("reason"),
        ),
        COINCAP_ASSETS,
    )


def coincap_history_rows(raw: DataFrame) -> DataFrame:
    """History points fill only `price_usd`: the other columns of their rows stay null."""
    p = F.col("payload")
    return _with_rules(
        raw.select(
            *_envelope("asset_id"),
            _money(p["priceUsd"]).alias("price_usd"),
            _reasons(*_envelope_checks(), _required_decimal(p["priceUsd"], "priceUsd")).alias("reason"),
        ),
        COINCAP_HISTORY,
    )


def coingecko_rows(raw: DataFrame) -> DataFrame:
    """A CoinGecko export's daily points: price, market cap and 24 h volume (`total_volume`)."""
    p = F.col("payload")
    price, cap, volume = (_blank_is_null(p[name]) for name in ("price", "market_cap", "total_volume"))
    return _with_rules(
        raw.select(
            *_envelope("asset_id"),
            _money(price).alias("price_usd"),
            _money(cap).alias("market_cap_usd"),
            _money(volume).alias("volume_usd_24h"),
            _reasons(
                *_envelope_checks(),
                _required_decimal(price, "price"),
                _optional_decimal(cap, "market_cap"),
                _optional_decimal(volume, "total_volume"),
            ).alias("reason"),
        ),
        COINGECKO_HISTORY,
    )


def open_meteo_rows(raw: DataFrame) -> DataFrame:
    """An Open-Meteo export's hours, as the intake converted them to the warehouse's units."""
    v = F.col("values")
    return _with_rules(
        raw.select(
            *_envelope("location_id"),
            *(v[name].alias(name) for name in OPEN_METEO_VALUES),
            v["condition"].alias("condition"),
            v["description"].alias("description"),
            _reasons(*_envelope_checks(), (v["temp_c"].isNull(), "values.temp_c: missing")).alias("reason"),
        ),
        OPEN_METEO_WEATHER,
    )


def weather_rows(raw: DataFrame) -> DataFrame:
    p = F.col("payload")
    primary = F.get(p["weather"], 0)  # null, not an error, when the list is empty
    return _with_rules(
        raw.select(
            *_envelope("location_id"),
            p["main"]["temp"].alias("temp_c"),
            p["main"]["feels_like"].alias("feels_like_c"),
            p["main"]["temp_min"].alias("temp_min_c"),
            p["main"]["temp_max"].alias("temp_max_c"),
            p["main"]["pressure"].alias("pressure_hpa"),
            p["main"]["humidity"].alias("humidity_pct"),
            p["wind"]["speed"].alias("wind_speed_ms"),
            p["wind"]["deg"].alias("wind_deg"),
            p["wind"]["gust"].alias("wind_gust_ms"),
            p["clouds"]["all"].alias("clouds_pct"),
            p["visibility"].alias("visibility_m"),
            p["rain"].getField("1h").alias("rain_1h_mm"),
            p["snow"].getField("1h").alias("snow_1h_mm"),
            primary["main"].alias("condition"),
            primary["description"].alias("description"),
            F.coalesce(p["name"], F.col("entity_id")).alias("name"),
            F.nullif(p["sys"]["country"], F.lit("")).alias("country"),
            p["coord"]["lat"].alias("lat"),
            p["coord"]["lon"].alias("lon"),
            _reasons(
                *_envelope_checks(),
                (p["main"]["temp"].isNull(), "main.temp: missing"),
                (primary.isNull() | primary["main"].isNull(), "weather: no condition"),
            ).alias("reason"),
        ),
        OPENWEATHER_WEATHER,
    )


def air_rows(raw: DataFrame) -> DataFrame:
    p = F.col("payload")
    aqi = p["main"]["aqi"]
    components = [p["components"][name].alias(name) for name in AIR_QUALITY.columns[3:]]
    return _with_rules(
        raw.select(
            *_envelope("location_id"),
            aqi.cast("smallint").alias("aqi"),
            *components,
            _reasons(
                *_envelope_checks(),
                (aqi.isNull() | (aqi != F.floor(aqi)), "main.aqi: missing or not an integer"),
            ).alias("reason"),
        ),
        OPENWEATHER_AIR,
    )


def valid(rows: DataFrame) -> DataFrame:
    return rows.where(F.col("reason").isNull())


def rejected(rows: DataFrame, collection: str) -> DataFrame:
    return rows.where(F.col("reason").isNotNull()).select(F.lit(collection).alias("collection"), *REJECTED_COLUMNS[1:])


def _latest(rows: DataFrame, key: list[str], order: list[Column]) -> DataFrame:
    rank = F.row_number().over(Window.partitionBy(*key).orderBy(*order))
    return rows.withColumn("_rank", rank).where(F.col("_rank") == 1).drop("_rank")


def _prices(rows: DataFrame, priority: int, from_file: bool = False) -> DataFrame:
    """`rows` in asset_prices' columns (a column they lack null), with their priority at the same instant."""
    return rows.select(
        *(F.col(c) if c in rows.columns else F.lit(None).cast(MONEY).alias(c) for c in ASSET_PRICES.columns[:-1]),
        F.lit(from_file).alias("from_file"),
        "fetched_at",
        F.lit(priority).alias("_priority"),
    )


def asset_prices(snapshots: DataFrame, history: DataFrame, files: DataFrame | None = None) -> DataFrame:
    """One row per (asset, time): a snapshot wins over a history point at the same instant, and either over a
    file's point."""
    both = _prices(snapshots, 0).unionByName(_prices(history, 1))
    if files is not None:
        both = both.unionByName(_prices(files, 2, from_file=True))
    latest = _latest(both, ["asset_id", "observed_at"], [F.col("_priority"), F.col("fetched_at").desc()])
    return latest.select(*ASSET_PRICES.columns)


def assets(snapshots: DataFrame) -> DataFrame:
    """Each asset as of its newest snapshot."""
    latest = _latest(snapshots, ["asset_id"], [F.col("observed_at").desc(), F.col("fetched_at").desc()])
    return latest.withColumn("updated_at", F.col("observed_at")).select(*ASSETS.columns)


def weather_observations(weather: DataFrame, files: DataFrame | None = None) -> DataFrame:
    """One row per (location, time): the API's wins over a file's at the same instant."""
    columns = WEATHER_OBSERVATIONS.columns[:-1]

    def observations(rows: DataFrame, from_file: bool) -> DataFrame:
        kept = (F.col(c) if c in rows.columns else F.lit(None).cast("double").alias(c) for c in columns)
        return rows.select(*kept, F.lit(from_file).alias("from_file"), "fetched_at")

    both = observations(weather, False)
    if files is not None:
        both = both.unionByName(observations(files, True))
    latest = _latest(both, ["location_id", "observed_at"], [F.col("from_file"), F.col("fetched_at").desc()])
    return latest.select(*WEATHER_OBSERVATIONS.columns)


def locations(weather: DataFrame) -> DataFrame:
    """Each location's name, country and coordinates, from its newest weather observation."""
    latest = _latest(weather, ["location_id"], [F.col("observed_at").desc(), F.col("fetched_at").desc()])
    return latest.select(*LOCATIONS.columns)


def air_quality(air: DataFrame) -> DataFrame:
    latest = _latest(air, ["location_id", "observed_at"], [F.col("fetched_at").desc()])
    return latest.select(*AIR_QUALITY.columns)


@dataclass(frozen=True)
class Outputs:
    tables: dict[str, DataFrame]  # the loaded warehouse tables, by name
    rejected: DataFrame  # REJECTED_COLUMNS: one row per raw document that failed, with its reason
    tally: DataFrame  # one row: `read`, the raw documents, and `rejected`, those of them that failed

    def counts(self) -> tuple[int, int]:
        """(documents read, documents rejected): one pass over the window, which keeps no row."""
        row = self.tally.first()
        return (row["read"], row["rejected"]) if row else (0, 0)


TYPED = {
    COINCAP_ASSETS: coincap_asset_rows,
    COINCAP_HISTORY: coincap_history_rows,
    OPENWEATHER_WEATHER: weather_rows,
    OPENWEATHER_AIR: air_rows,
    COINGECKO_HISTORY: coingecko_rows,
    OPEN_METEO_WEATHER: open_meteo_rows,
}
assert set(TYPED) == set(RAW_SCHEMAS)


def to_warehouse(raw: dict[str, DataFrame]) -> Outputs:
    """The raw frames, by collection name, as the warehouse tables they fill and the documents rejected. The APIs'
    four collections are always there; the files' two when the window may hold rows of a file."""
    typed = {name: TYPED[name](frame) for name, frame in raw.items()}
    rejects = reduce(DataFrame.unionByName, (rejected(rows, name) for name, rows in typed.items()))
    reasons = reduce(DataFrame.unionByName, (rows.select("reason") for rows in typed.values()))
    tally = reasons.agg(F.count(F.lit(1)).alias("read"), F.count("reason").alias("rejected"))
    ok = {name: valid(rows) for name, rows in typed.items()}
    snapshots, history = ok[COINCAP_ASSETS], ok[COINCAP_HISTORY]
    weather, air = ok[OPENWEATHER_WEATHER], ok[OPENWEATHER_AIR]
    tables = {
        ASSETS.name: assets(snapshots),
        ASSET_PRICES.name: asset_prices(snapshots, history, ok.get(COINGECKO_HISTORY)),
        LOCATIONS.name: locations(weather),
        WEATHER_OBSERVATIONS.name: weather_observations(weather, ok.get(OPEN_METEO_WEATHER)),
        AIR_QUALITY.name: air_quality(air),
    }
    return Outputs(tables, rejects, tally)
