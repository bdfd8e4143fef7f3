"""The lake collections as Airflow Assets: the ingest and inbox DAGs produce them, the warehouse load consumes them."""

from airflow.providers.mongo.assets.mongo import create_asset
from airflow.sdk import Asset
from pymongo.uri_parser import parse_uri

from market_weather.contract import (
    COINCAP_ASSETS,
    COINGECKO_HISTORY,
    OPEN_METEO_WEATHER,
    OPENWEATHER_AIR,
    OPENWEATHER_WEATHER,
)
from market_weather.settings import LakeSettings, get_settings


def lake_asset(collection: str) -> Asset:
    """`mongodb://host:port/<MONGO_DB>/<collection>`, as the MongoDB provider names collections."""
    lake = get_settings(LakeSettings)
    host, port = parse_uri(lake.MONGO_URI)["nodelist"][0]
    return create_asset(host=host, port=port, database=lake.MONGO_DB, collection=collection)


COINCAP_ASSETS_LAKE = lake_asset(COINCAP_ASSETS)
OPENWEATHER_WEATHER_LAKE = lake_asset(OPENWEATHER_WEATHER)
OPENWEATHER_AIR_LAKE = lake_asset(OPENWEATHER_AIR)
# Rows taken in from files dropped in the inbox (JSON Lines of the APIs' records land in the APIs' collections).
COINGECKO_HISTORY_LAKE = lake_asset(COINGECKO_HISTORY)
OPEN_METEO_WEATHER_LAKE = lake_asset(OPEN_METEO_WEATHER)
