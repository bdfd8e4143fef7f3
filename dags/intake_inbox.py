"""
### Intake inbox

Files dropped in the inbox folder (setting `INBOX_DIR`, the `inbox_fs` connection) are taken in within seconds,
as uploads to the intake service are: CoinGecko's CSV export of one coin (named as CoinGecko names it,
`btc-usd-max.csv`), Open-Meteo's CSV export of one location (matched by its coordinates), or JSON Lines of the
APIs' records, gzipped or not.

The DAG runs continuously, one run at a time. `wait_for_a_file` is a deferrable `FileSensor`: while the folder is
empty it holds no worker slot, and the triggerer looks every two seconds. `take_files` then takes every file that
is complete (a name starting with a dot or ending in `.part` is being written: rename it when done; so is a file
changed in the last two seconds), landing its rows in the lake, and moves it to `archive/`, or to `rejected/` with a
`<name>.reason.txt` beside it. Each file's status, counts and first errors are in the lake's `files` collection
(the dashboard's Files page); the warehouse load that follows makes it `loaded`.
"""

from datetime import timedelta

from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.sdk import dag, task

from market_weather.orchestration.assets import COINGECKO_HISTORY_LAKE, OPEN_METEO_WEATHER_LAKE
from market_weather.orchestration.connections import INBOX_CONN_ID
from market_weather.orchestration.defaults import DAG_DEFAULTS

# How often the triggerer looks into the folder, and how long one run's sensor waits before the run ends (skipped)
# and the next one waits again.
LOOK_SECONDS = 2
WAIT_AT_MOST = timedelta(hours=12)


@dag(
    schedule="@continuous",
    **DAG_DEFAULTS,
    tags=["intake", "files"],
    doc_md=__doc__,
)
def intake_inbox():
    # `*.*`: a file with an extension; the folders the inbox moves files to have none, and a name starting with a
    # dot is not matched at all.
    wait = FileSensor(
        task_id="wait_for_a_file",
        fs_conn_id=INBOX_CONN_ID,
        filepath="*.*",
        deferrable=True,
        poke_interval=LOOK_SECONDS,
        timeout=WAIT_AT_MOST.total_seconds(),
        soft_fail=True,
    )

    @task(outlets=[COINGECKO_HISTORY_LAKE, OPEN_METEO_WEATHER_LAKE])
    def take_files() -> list[dict]:
        from pymongo import MongoClient

        from market_weather.intake import inbox
        from market_weather.orchestration.connections import inbox_settings

        settings = inbox_settings()
        with MongoClient(settings.MONGO_URI, document_class=dict, tz_aware=True) as client:
            taken = inbox.take_all(client[settings.MONGO_DB], settings)
        return [
            {
                "name": t.name,
                "outcome": t.outcome,
                "file_id": t.file_id,
                "moved_to": str(t.moved_to),
                "message": t.message,
            }
            for t in taken
        ]

    wait >> take_files()


intake_inbox()
