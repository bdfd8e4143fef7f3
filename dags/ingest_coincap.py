"""
### Ingest CoinCap

Every minute (setting `INGEST_COINCAP_SCHEDULE`), one `/assets` snapshot of the assets in
`COINCAP_ASSETS` lands in the lake collection `coincap_assets`: live where `COINCAP_API_KEY` is set,
simulated otherwise. Each run updates the Asset of that collection, which schedules the warehouse load.
"""

from airflow.sdk import dag, task

from common.settings import get_settings
from orchestration.assets import COINCAP_ASSETS_LAKE
from orchestration.defaults import COINCAP_POOL, DAG_DEFAULTS


@dag(
    schedule=get_settings().INGEST_COINCAP_SCHEDULE,
    **DAG_DEFAULTS,
    tags=["ingest", "coincap"],
    doc_md=__doc__,
)
def ingest_coincap():
    @task(outlets=[COINCAP_ASSETS_LAKE], pool=COINCAP_POOL)
    def fetch_assets_snapshot(run_id=None) -> dict:
        from producer import runs

        return runs.fetch("coincap", run_id)

    fetch_assets_snapshot()


ingest_coincap()
