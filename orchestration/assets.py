"""The lake collections as Airflow Assets: ingest DAGs produce them, the warehouse load consumes them."""

from airflow.providers.mongo.assets.mongo import create_asset
from airflow.sdk import Asset
from pymongo.uri_parser import parse_uri

from common.settings import get_settings
from producer.lake import COINCAP_ASSETS, OPENWEATHER_AIR, OPENWEATHER_WEATHER


def lake_asset(collection: str) -> Asset:
    """`mongodb://host:port/<MONGO_DB>/<collection>`, as the MongoDB provider names collections."""
    settings = get_settings()
    host, port = parse_uri(settings.MONGO_URI)["nodelist"][0]
    return create_asset(host=host, port=port, database=settings.MONGO_DB, collection=collection)


COINCAP_ASSETS_LAKE = lake_asset(COINCAP_ASSETS)
OPENWEATHER_WEATHER_LAKE = lake_asset(OPENWEATHER_WEATHER)
OPENWEATHER_AIR_LAKE = lake_asset(OPENWEATHER_AIR)
