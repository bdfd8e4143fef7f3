"""
### Lake to warehouse

Runs the Spark job `market_weather/job/lake_to_warehouse.py` whenever an ingest DAG updates a lake collection
(data-aware scheduling on the Assets of the lake collections). The job reads what is new since the last successful
watermark, types, validates and deduplicates it, and merges it into the warehouse in one transaction,
recording the run in `etl_runs`. Submitted through the `spark_default` connection: `local[*]` in the
local stack, the standalone master under docker compose.
"""

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import dag

from market_weather.orchestration.assets import COINCAP_ASSETS_LAKE, OPENWEATHER_AIR_LAKE, OPENWEATHER_WEATHER_LAKE
from market_weather.orchestration.defaults import DAG_DEFAULTS, spark_submit_kwargs


@dag(
    schedule=(COINCAP_ASSETS_LAKE | OPENWEATHER_WEATHER_LAKE | OPENWEATHER_AIR_LAKE),
    **DAG_DEFAULTS,
    tags=["warehouse", "spark"],
    doc_md=__doc__,
)
def lake_to_warehouse():
    SparkSubmitOperator(task_id="load_warehouse", **spark_submit_kwargs())


lake_to_warehouse()
