"""Mongo Express for the local stack: npm's mongo-express 1.0.0, pinned by the committed lockfile."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import requests

from market_weather.settings import Settings
from market_weather.stack import lake_server
from market_weather.stack.errors import StackError

PACKAGE_DIR = Path(__file__).resolve().parent / "mongo-express"


def ensure_installed(install_dir: Path) -> Path:
    """`npm ci` from the committed package-lock.json into install_dir; return the app to run."""
    app = install_dir / "node_modules" / "mongo-express" / "app.js"
    lock = PACKAGE_DIR / "package-lock.json"
    installed_lock = install_dir / "package-lock.json"
    if app.exists() and installed_lock.exists() and installed_lock.read_bytes() == lock.read_bytes():
        return app
    if not shutil.which("npm") or not shutil.which("node"):
        raise StackError("Mongo Express needs Node.js and npm: sudo apt-get install -y nodejs npm")
    install_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(PACKAGE_DIR / name, install_dir / name)
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--omit=dev"], cwd=install_dir, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise StackError(f"npm ci of mongo-express failed in {install_dir}:\n{result.stderr[-2000:]}")
    return app


def command(settings: Settings, app: Path) -> tuple[list[str], dict[str, str]]:
    """The lake as its read-only login (the lake's database only: admin mode would list databases and read the
    server's status, which that login may not), read-only pages, basic auth on, bound to loopback.

    Mongo Express's read-only option hides its edit buttons, but most of its routes do not check it (the
    database's drop among them): the login is what keeps the lake unchanged."""
    return ["node", str(app)], {
        "NODE_ENV": "production",
        "PORT": str(settings.MONGO_EXPRESS_PORT),
        "VCAP_APP_HOST": "127.0.0.1",
        "ME_CONFIG_MONGODB_URL": lake_server.reader_uri(settings),
        "ME_CONFIG_MONGODB_ENABLE_ADMIN": "false",
        "ME_CONFIG_OPTIONS_READONLY": "true",  # browse, never edit: the lake is raw data the pipeline owns
        "ME_CONFIG_BASICAUTH": "true",
        "ME_CONFIG_BASICAUTH_USERNAME": settings.MONGO_EXPRESS_USER,
        "ME_CONFIG_BASICAUTH_PASSWORD": settings.MONGO_EXPRESS_PASSWORD.get_secret_value(),
        "ME_CONFIG_OPTIONS_EDITORTHEME": "default",
    }


def check(settings: Settings) -> str:
    """The app answers behind its basic auth. Its favicon is served past the auth check, while the
    index page would list every database with its statistics, which is slow on a large lake."""
    url = f"http://127.0.0.1:{settings.MONGO_EXPRESS_PORT}/"
    auth = (settings.MONGO_EXPRESS_USER, settings.MONGO_EXPRESS_PASSWORD.get_secret_value())
    response = requests.get(url + "favicon.ico", auth=auth, timeout=3)
    response.raise_for_status()
    return f"Mongo Express on {url} (basic auth)"
