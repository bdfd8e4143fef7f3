"""
### Backfill history

Manual. Loads history into the lake, one chunk per mapped task, then runs the warehouse load (which
waits for the one slot of the `warehouse_load` pool when a scheduled load holds it) and the warehouse
checks (`check_warehouse`, as after every load).

- `source`: `coincap` (price history per asset) or `openweather` (air-pollution history per location,
  data from 2020-11-27);
- `entities`: asset slugs or location ids; empty means all configured ones;
- `start`, `end`: ISO times (UTC when no offset is given), end excluded; the form opens on the last
  complete UTC day (yesterday 00:00 to today 00:00); `interval`: CoinCap history interval.

One chunk is one request window of the API: a day of `m1` points, a year of `h12` points, a week of
air pollution; a range longer than 1000 windows gets wider chunks.

Resumable: a failed chunk retries on its own, and clearing it re-runs only that chunk; chunks already
loaded are duplicates if re-run and add nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from market_weather.api_limits import COINCAP_INTERVALS_MS
from market_weather.orchestration import backfill
from market_weather.orchestration.defaults import COINCAP_POOL, DAG_DEFAULTS, OPENWEATHER_POOL, load_warehouse_task
from market_weather.orchestration.quality import check_warehouse_task
from market_weather.times import parse_utc

# Read each time the file is parsed, so the form opens on a recent day.
DAY_START, DAY_END = backfill.last_complete_day()


@dag(
    schedule=None,
    **DAG_DEFAULTS,
    tags=["backfill", "coincap", "openweather"],
    doc_md=__doc__,
    params={
        "source": Param("coincap", enum=["coincap", "openweather"]),
        # May be left empty (null allowed), so the trigger form does not mark it required.
        "entities": Param([], type=["null", "array"], items={"type": "string"}),
        "start": Param(DAY_START, type="string", format="date-time"),
        "end": Param(DAY_END, type="string", format="date-time"),
        "interval": Param("h1", enum=list(COINCAP_INTERVALS_MS)),
    },
)
def backfill_history():
    @task
    def plan_chunks(source: str, params=None) -> list[list[str]]:
        """The [start, end) chunks of the requested range, or none when another source was asked for."""
        if params["source"] != source:
            return []
        try:
            return backfill.plan(source, params["start"], params["end"], params["interval"])
        except ValueError as exc:  # bad input: fail now, retrying cannot help
            raise AirflowFailException(str(exc)) from None

    @task(map_index_template="{{ chunk[0] }}")
    def load_chunk(source: Literal["coincap", "openweather"], chunk: list[str], params=None, run_id=None) -> dict:
        from market_weather.orchestration.connections import producer_settings
        from market_weather.producer import commands
        from market_weather.producer.errors import UsageError

        try:
            result = commands.backfill(
                source,
                parse_utc(chunk[0]),
                parse_utc(chunk[1]),
                run_id,
                interval=params["interval"],
                entities=params["entities"] or None,
                settings=producer_settings(),
            )
        except UsageError as exc:  # an unknown location id: retrying cannot help
            raise AirflowFailException(str(exc)) from None
        return asdict(result)

    load = load_warehouse_task(trigger_rule="none_failed")
    load >> check_warehouse_task()
    for source, pool in (("coincap", COINCAP_POOL), ("openweather", OPENWEATHER_POOL)):
        chunks = plan_chunks.override(task_id=f"plan_{source}_chunks")(source)
        loaded = (
            load_chunk.override(task_id=f"load_{source}_chunks", pool=pool).partial(source=source).expand(chunk=chunks)
        )
        loaded >> load


backfill_history()
