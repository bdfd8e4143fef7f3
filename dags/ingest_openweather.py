"""
### Ingest OpenWeather

Every 10 minutes (setting `INGEST_OPENWEATHER_SCHEDULE`; OpenWeather's data changes at most that
often), current weather and air pollution for each location in `OPENWEATHER_LOCATIONS` land in the
lake collections `openweather_weather` and `openweather_air`: live where `OPENWEATHER_API_KEY` is set,
simulated otherwise. Both Assets schedule the warehouse load.
"""

from dataclasses import asdict

from airflow.sdk import dag, task

from market_weather.orchestration.assets import OPENWEATHER_AIR_LAKE, OPENWEATHER_WEATHER_LAKE
from market_weather.orchestration.connections import producer_settings
from market_weather.orchestration.defaults import DAG_DEFAULTS, OPENWEATHER_POOL
from market_weather.settings import ScheduleSettings, get_settings


@dag(
    schedule=get_settings(ScheduleSettings).INGEST_OPENWEATHER_SCHEDULE,
    **DAG_DEFAULTS,
    tags=["ingest", "openweather"],
    doc_md=__doc__,
)
def ingest_openweather():
    @task(outlets=[OPENWEATHER_WEATHER_LAKE, OPENWEATHER_AIR_LAKE], pool=OPENWEATHER_POOL)
    def fetch_weather_and_air(run_id=None) -> dict:
        from market_weather.producer import commands

        return asdict(commands.fetch("openweather", run_id, producer_settings()))

    fetch_weather_and_air()


ingest_openweather()
