"""The warehouse checks as an Airflow task after each load, and the notifier that announces a failure.

The task reaches the warehouse and the lake through the platform's connections (`warehouse_postgres`,
`lake_mongo`) and runs `market_weather.warehouse.quality`. A failed check of severity `error` fails the
task, so the UI shows it red, without touching the load before it; `QualityAlert` then logs the
failure at ERROR and, when ALERT_WEBHOOK_URL is set, posts it there as JSON.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from airflow.sdk import BaseNotifier, task
from airflow.sdk.exceptions import AirflowFailException

from market_weather.orchestration.connections import LAKE_CONN_ID, WAREHOUSE_CONN_ID
from market_weather.settings import QualitySettings, get_settings

log = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_S = 10


def check_warehouse() -> list[dict[str, Any]]:
    """Run every check and store the results; fail (no retry) when a check of severity error fails."""
    # Imported here, not where DAG files are parsed.
    import psycopg
    from airflow.providers.mongo.hooks.mongo import MongoHook
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from market_weather.warehouse import quality

    warehouse = PostgresHook.get_connection(WAREHOUSE_CONN_ID)
    lake_hook = MongoHook(mongo_conn_id=LAKE_CONN_ID)
    database = lake_hook.connection.schema
    if not database:
        raise AirflowFailException(f"the {LAKE_CONN_ID} connection names no database")
    with (
        psycopg.connect(
            host=warehouse.host,
            port=warehouse.port,
            user=warehouse.login,
            password=warehouse.password,
            dbname=warehouse.schema,
            autocommit=True,
            application_name="quality_checks",
        ) as conn,
        lake_hook.get_conn() as client,
    ):
        results = quality.run_checks(conn, client[database], get_settings(QualitySettings))
    for result in results:
        log.log(logging.INFO if result.status == "pass" else logging.WARNING, "%s", result.line())
    failed = quality.failed(results)
    if failed:
        # Retrying cannot change what the warehouse holds.
        raise AirflowFailException(
            f"{len(failed)} data-quality check(s) failed: " + "; ".join(r.line() for r in failed)
        )
    return [{"check": r.check, "status": r.status, "observed": r.observed, "detail": r.detail} for r in results]


class QualityAlert(BaseNotifier):
    """A failed task's cause as one ERROR line in its log, and a JSON post to ALERT_WEBHOOK_URL when set."""

    def __init__(self, webhook_url: str | None = None):
        super().__init__()
        self._webhook_url = webhook_url

    def _url(self) -> str | None:
        if self._webhook_url is not None:
            return self._webhook_url
        secret = get_settings(QualitySettings).ALERT_WEBHOOK_URL
        return secret.get_secret_value() if secret else None

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        cause = " ".join(str(context.get("exception") or "failed").split())
        alert = {
            "dag_id": ti.dag_id,
            "task_id": ti.task_id,
            "run_id": ti.run_id,
            "try_number": ti.try_number,
            "message": cause,
        }
        log.error("data-quality alert: %s.%s (%s): %s", ti.dag_id, ti.task_id, ti.run_id, cause)
        url = self._url()
        if not url:
            return
        try:
            requests.post(url, json=alert, timeout=WEBHOOK_TIMEOUT_S).raise_for_status()
        except requests.RequestException as exc:
            # The URL may hold a token: name only what went wrong.
            status = getattr(exc.response, "status_code", None)
            log.error(
                "the alert webhook was not reached: %s%s", type(exc).__name__, f" (HTTP {status})" if status else ""
            )


def check_warehouse_task() -> Any:
    """The `check_warehouse` task, for a DAG to put after its load: red when a check fails, announced."""
    return task(task_id="check_warehouse", on_failure_callback=QualityAlert())(check_warehouse)()
