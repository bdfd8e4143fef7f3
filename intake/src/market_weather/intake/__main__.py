"""`python -m market_weather.intake`: serve the file intake on INTAKE_HOST:INTAKE_PORT."""

from __future__ import annotations

import logging
import sys

import uvicorn

from market_weather.dashboard.assets import AssetsMissing
from market_weather.intake.service import create_app
from market_weather.settings import IntakeSettings, SettingsError, get_settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = get_settings(IntakeSettings)
        app = create_app(settings)
    except (SettingsError, AssetsMissing) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=settings.INTAKE_HOST, port=settings.INTAKE_PORT, access_log=False, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
