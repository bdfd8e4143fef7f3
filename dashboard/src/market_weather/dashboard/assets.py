"""The dashboard's browser libraries: npm packages pinned by the committed package-lock.json, installed
with `npm ci` beside it and served by the dashboard (no CDN: the platform runs offline). The Docker
image runs the same `npm ci` in a build stage."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent / "assets"
ECHARTS = PACKAGE_DIR / "node_modules" / "echarts" / "dist" / "echarts.min.js"
_INSTALLED_LOCK = PACKAGE_DIR / "node_modules" / ".package-lock.json"


class AssetsMissing(RuntimeError):
    """The browser libraries are not installed."""


def installed() -> bool:
    return ECHARTS.exists() and _INSTALLED_LOCK.exists()


def ensure_installed() -> Path:
    """`npm ci` unless the pinned packages are there; the folder of the packages."""
    if installed():
        return PACKAGE_DIR / "node_modules"
    if not shutil.which("npm"):
        raise AssetsMissing("the dashboard's ECharts comes from npm, which is missing: sudo apt-get install -y npm")
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--omit=dev"], cwd=PACKAGE_DIR, capture_output=True, text=True
    )
    if result.returncode != 0 or not ECHARTS.exists():
        raise AssetsMissing(f"npm ci of the dashboard's assets failed in {PACKAGE_DIR}:\n{result.stderr[-2000:]}")
    return PACKAGE_DIR / "node_modules"


def main() -> int:
    ensure_installed()
    print(f"dashboard assets: {ECHARTS.relative_to(PACKAGE_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
