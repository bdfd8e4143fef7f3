"""`python -m market_weather.dashboard`: serve the dashboard on DASHBOARD_HOST:DASHBOARD_PORT."""

from __future__ import annotations

import sys

import uvicorn

from market_weather.dashboard.app import create_app
from market_weather.dashboard.assets import AssetsMissing
from market_weather.settings import DashboardSettings, SettingsError, get_settings


def main() -> int:
    try:
        settings = get_settings(DashboardSettings)
        app = create_app(settings)
    except (SettingsError, AssetsMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.DASHBOARD_HOST, port=settings.DASHBOARD_PORT, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
