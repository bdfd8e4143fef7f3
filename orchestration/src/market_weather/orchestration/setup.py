"""`python -m market_weather.orchestration.setup`: get an Airflow deployment ready for the platform's DAGs.

Migrates the metadata database, writes the admin's password for the simple auth manager, and
creates the API pools. Idempotent. The local stack and docker compose's airflow-init both run it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from market_weather.files import write_private
from market_weather.orchestration.defaults import POOLS
from market_weather.settings import SettingsError, UiSettings, get_settings


class SetupError(RuntimeError):
    pass


def prepare_airflow(settings: UiSettings, env: dict[str, str]) -> None:
    passwords = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    write_private(
        passwords, json.dumps({settings.AIRFLOW_ADMIN_USER: settings.AIRFLOW_ADMIN_PASSWORD.get_secret_value()})
    )
    airflow = str(Path(sys.executable).parent / "airflow")
    steps = [[airflow, "db", "migrate"]]
    steps += [[airflow, "pools", "set", name, str(slots), about] for name, (slots, about) in POOLS.items()]
    for argv in steps:
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SetupError(f"`airflow {' '.join(argv[1:3])}` failed:\n{result.stderr[-2000:]}")


def main() -> int:
    try:
        prepare_airflow(get_settings(UiSettings), dict(os.environ))
    except (SetupError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("airflow ready: metadata migrated, admin password set, pools " + ", ".join(POOLS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
