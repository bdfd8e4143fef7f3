"""The dashboard's browser libraries: npm packages pinned by the committed package-lock.json, installed
with `npm ci` beside it and served by the dashboard (no CDN: the platform runs offline). The Docker
image runs the same `npm ci` in a build stage.

ECharts draws the pages' charts; Swagger UI shows the API at `/api/docs`, of which the dashboard serves
the bundle and the stylesheet alone. Swagger UI's package depends on a usage-reporting one, whose install
script package.json's `scarfSettings` turns off: installing reports nothing anywhere."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent / "assets"
ECHARTS = PACKAGE_DIR / "node_modules" / "echarts" / "dist" / "echarts.min.js"
SWAGGER_UI = PACKAGE_DIR / "node_modules" / "swagger-ui-dist"
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
SERVED = (ECHARTS, *(SWAGGER_UI / name for name in SWAGGER_UI_FILES))
_INSTALLED_LOCK = PACKAGE_DIR / "node_modules" / ".package-lock.json"


class AssetsMissing(RuntimeError):
    """The browser libraries are not installed."""


def installed() -> bool:
    return all(path.exists() for path in SERVED) and _INSTALLED_LOCK.exists()


def ensure_installed() -> Path:
    """`npm ci` unless the pinned packages are there; the folder of the packages."""
    if installed():
        return PACKAGE_DIR / "node_modules"
    if not shutil.which("npm"):
        raise AssetsMissing(
            "the dashboard's ECharts and Swagger UI come from npm, which is missing: sudo apt-get install -y npm"
        )
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--omit=dev"], cwd=PACKAGE_DIR, capture_output=True, text=True
    )
    if result.returncode != 0 or not installed():
        raise AssetsMissing(f"npm ci of the dashboard's assets failed in {PACKAGE_DIR}:\n{result.stderr[-2000:]}")
    return PACKAGE_DIR / "node_modules"


def docs_page(openapi_url: str, title: str) -> Any:
    """The API's page on Swagger UI as served from here (`/vendor/swagger-ui/...`): nothing is fetched from
    elsewhere, not even the validator's badge."""
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url="/vendor/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url="/vendor/swagger-ui/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        swagger_ui_parameters={"validatorUrl": None},
    )


def main() -> int:
    ensure_installed()
    print("dashboard assets:", ", ".join(str(path.relative_to(PACKAGE_DIR)) for path in SERVED))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
