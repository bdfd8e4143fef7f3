"""
### Lake to warehouse

Runs the Spark job `spark/src/market_weather/job/lake_to_warehouse.py` whenever an ingest DAG, or the inbox's, updates
a lake collection (data-aware scheduling on the Assets of the lake collections). The job reads what is new since the
last successful watermark, types, validates and deduplicates it, and merges it into the warehouse in one transaction,
recording the run in `etl_runs`. It runs in a session of its own on the long-lived Spark Connect server that the
`spark_connect_default` connection names (its executors on the standalone cluster), in the local stack as under
docker compose: no Spark application starts per load. A load still running after `LOAD_TIMEOUT_SECONDS` is
interrupted and fails, saying so; a server that does not answer fails it in seconds, naming `SPARK_CONNECT_PORT`.

Loads take turns: each takes the one slot of the `warehouse_load` pool, shared with the backfill's load,
so one started beside another waits for it rather than failing. A failed load says why at ERROR.

After each load, `check_warehouse` runs the warehouse checks (`make check` runs the same) and stores their
results in `quality_checks`: a failed check turns it red, without undoing the load, and is announced in its
log and, when `ALERT_WEBHOOK_URL` is set, to that webhook.
"""

from airflow.sdk import dag

from market_weather.orchestration.assets import (
    COINCAP_ASSETS_LAKE,
    COINGECKO_HISTORY_LAKE,
    OPEN_METEO_WEATHER_LAKE,
    OPENWEATHER_AIR_LAKE,
    OPENWEATHER_WEATHER_LAKE,
)
from market_weather.orchestration.defaults import DAG_DEFAULTS, load_warehouse_task
from market_weather.orchestration.quality import check_warehouse_task


@dag(
    schedule=(
        COINCAP_ASSETS_LAKE
        | OPENWEATHER_WEATHER_LAKE
        | OPENWEATHER_AIR_LAKE
        | COINGECKO_HISTORY_LAKE
        | OPEN_METEO_WEATHER_LAKE
    ),
    **DAG_DEFAULTS,
    tags=["warehouse", "spark"],
    doc_md=__doc__,
)
def lake_to_warehouse():
    load_warehouse_task() >> check_warehouse_task()


lake_to_warehouse()
