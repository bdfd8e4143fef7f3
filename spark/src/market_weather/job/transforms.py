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
    LOCATIONS,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
    WEATHER_OBSERVATIONS,
)
from market_weather.job import rules
from market_weather.job.schemas import CORRUPT_RECORD, MONEY

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


def asset_prices(snapshots: DataFrame, history: DataFrame) -> DataFrame:
    """One row per (asset, time): a snapshot wins over a history point at the same instant."""
    from_snapshots = snapshots.select(*ASSET_PRICES.columns, "fetched_at", F.lit(0).alias("_priority"))
    from_history = history.select(
        "asset_id",
        "observed_at",
        "price_usd",
        *(F.lit(None).cast(MONEY).alias(c) for c in ASSET_PRICES.columns[3:]),
        "fetched_at",
        F.lit(1).alias("_priority"),
    )
    both = from_snapshots.unionByName(from_history)
    latest = _latest(both, ["asset_id", "observed_at"], [F.col("_priority"), F.col("fetched_at").desc()])
    return latest.select(*ASSET_PRICES.columns)


def assets(snapshots: DataFrame) -> DataFrame:
    """Each asset as of its newest snapshot."""
    latest = _latest(snapshots, ["asset_id"], [F.col("observed_at").desc(), F.col("fetched_at").desc()])
    return latest.withColumn("updated_at", F.col("observed_at")).select(*ASSETS.columns)


def weather_observations(weather: DataFrame) -> DataFrame:
    latest = _latest(weather, ["location_id", "observed_at"], [F.col("fetched_at").desc()])
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


def to_warehouse(raw: dict[str, DataFrame]) -> Outputs:
    """The raw frames, by collection name, as the warehouse tables they fill and the documents rejected."""
    typed = {
        COINCAP_ASSETS: coincap_asset_rows(raw[COINCAP_ASSETS]),
        COINCAP_HISTORY: coincap_history_rows(raw[COINCAP_HISTORY]),
        OPENWEATHER_WEATHER: weather_rows(raw[OPENWEATHER_WEATHER]),
        OPENWEATHER_AIR: air_rows(raw[OPENWEATHER_AIR]),
    }
    rejects = reduce(DataFrame.unionByName, (rejected(rows, name) for name, rows in typed.items()))
    reasons = reduce(DataFrame.unionByName, (rows.select("reason") for rows in typed.values()))
    tally = reasons.agg(F.count(F.lit(1)).alias("read"), F.count("reason").alias("rejected"))
    snapshots, history, weather, air = (valid(rows) for rows in typed.values())
    tables = {
        ASSETS.name: assets(snapshots),
        ASSET_PRICES.name: asset_prices(snapshots, history),
        LOCATIONS.name: locations(weather),
        WEATHER_OBSERVATIONS.name: weather_observations(weather),
        AIR_QUALITY.name: air_quality(air),
    }
    return Outputs(tables, rejects, tally)
