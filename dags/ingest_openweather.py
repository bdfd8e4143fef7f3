"""
### Ingest OpenWeather

Every 10 minutes (setting `INGEST_OPENWEATHER_SCHEDULE`; OpenWeather's data changes at most that
often), current weather and air pollution for each location in `OPENWEATHER_LOCATIONS` land in the
lake collections `openweather_weather` and `openweather_air`: live where `OPENWEATHER_API_KEY` is set,
simulated otherwise. Both Assets schedule the warehouse load.
"""

from airflow.sdk import dag, task

from common.settings import get_settings
from orchestration.assets import OPENWEATHER_AIR_LAKE, OPENWEATHER_WEATHER_LAKE
from orchestration.defaults import DAG_DEFAULTS, OPENWEATHER_POOL


@dag(
    schedule=get_settings().INGEST_OPENWEATHER_SCHEDULE,
    **DAG_DEFAULTS,
    tags=["ingest", "openweather"],
    doc_md=__doc__,
)
def ingest_openweather():
    @task(outlets=[OPENWEATHER_WEATHER_LAKE, OPENWEATHER_AIR_LAKE], pool=OPENWEATHER_POOL)
    def fetch_weather_and_air(run_id=None) -> dict:
        from producer import runs

        return runs.fetch("openweather", run_id)

    fetch_weather_and_air()


ingest_openweather()
