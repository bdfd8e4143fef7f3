"""
### Ingest CoinCap

Every minute (setting `INGEST_COINCAP_SCHEDULE`), one `/assets` snapshot of the assets in
`COINCAP_ASSETS` lands in the lake collection `coincap_assets`: live where `COINCAP_API_KEY` is set,
simulated otherwise. Each run updates the Asset of that collection, which schedules the warehouse load.
"""

from dataclasses import asdict

from airflow.sdk import dag, task

from market_weather.orchestration.assets import COINCAP_ASSETS_LAKE
from market_weather.orchestration.connections import producer_settings
from market_weather.orchestration.defaults import COINCAP_POOL, DAG_DEFAULTS
from market_weather.settings import ScheduleSettings, get_settings


@dag(
    schedule=get_settings(ScheduleSettings).INGEST_COINCAP_SCHEDULE,
    **DAG_DEFAULTS,
    tags=["ingest", "coincap"],
    doc_md=__doc__,
)
def ingest_coincap():
    @task(outlets=[COINCAP_ASSETS_LAKE], pool=COINCAP_POOL)
    def fetch_assets_snapshot(run_id=None) -> dict:
        from market_weather.producer import commands

        return asdict(commands.fetch("coincap", run_id, producer_settings()))

    fetch_assets_snapshot()


ingest_coincap()
