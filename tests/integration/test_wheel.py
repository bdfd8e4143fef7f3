"""The platform as a non-editable wheel: `pip install .` into a throw-away virtualenv carries every component's
code and files, merged into the one `market_weather` namespace, and runs from there, far from the checkout."""

from __future__ import annotations

import json
import subprocess
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

from market_weather.settings import PROJECT_ROOT

PROBE = """
import json, sys
from importlib.resources import files

import market_weather.job.lake_to_warehouse as job
from market_weather.job.spark_conf import LOG4J2_CONFIG
from market_weather.warehouse.migrate import MIGRATIONS

root = files("market_weather")
print(json.dumps({
    "namespace": [str(p) for p in __import__("market_weather").__path__],
    "job": job.__file__,
    "log4j2": str(LOG4J2_CONFIG) if LOG4J2_CONFIG.is_file() else None,
    "migrations": sorted(p.name for p in MIGRATIONS.glob("*.sql")),
    "statements": sorted(p.name for p in (root / "warehouse" / "sql").iterdir() if p.name.endswith(".sql")),
    "checks": sorted(p.name for p in (root / "warehouse" / "sql" / "checks").iterdir()),
    "dashboard_sql": sorted(p.name for p in (root / "dashboard" / "sql").iterdir()),
    "static": sorted(p.name for p in (root / "dashboard" / "static").iterdir()),
    "templates": sorted(p.name for p in (root / "dashboard" / "templates").iterdir()),
    "npm": sorted(p.name for p in (root / "dashboard" / "assets").iterdir()),
    "mongo_express": sorted(p.name for p in (root / "stack" / "mongo-express").iterdir()),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtualenv holding the wheel of this checkout; its dependencies come from the project's environment,
    added as a plain path (not a site folder, so the checkout's editable install is not seen)."""
    env_dir = tmp_path_factory.mktemp("wheel") / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "project_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    result = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return env_dir


def run(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(env_dir / "bin" / "python"), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_wheel_holds_every_components_files(installed, tmp_path):
    result = run(installed, "-c", PROBE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    site = str(installed)
    assert [p for p in found["namespace"] if not p.startswith(site)] == [], "only the wheel's copy is imported"
    assert found["job"].startswith(site)
    assert found["log4j2"] and found["log4j2"].startswith(site)
    checkout = PROJECT_ROOT / "postgres" / "src" / "market_weather" / "warehouse"
    assert found["migrations"] == sorted(p.name for p in (checkout / "migrations").glob("*.sql"))
    assert found["statements"] == sorted(p.name for p in (checkout / "sql").glob("*.sql"))
    assert found["checks"] == sorted(p.name for p in (checkout / "sql" / "checks").glob("*.sql"))
    dashboard = PROJECT_ROOT / "dashboard" / "src" / "market_weather" / "dashboard"
    assert found["dashboard_sql"] == sorted(p.name for p in (dashboard / "sql").glob("*.sql"))
    assert found["static"] == sorted(p.name for p in (dashboard / "static").iterdir())
    assert found["templates"] == sorted(p.name for p in (dashboard / "templates").iterdir())
    assert {"package.json", "package-lock.json"} <= set(found["npm"])
    assert "node_modules" not in found["npm"], "installed browser libraries stay out of the wheel"
    assert {"package.json", "package-lock.json"} <= set(found["mongo_express"])


def test_the_wheels_producer_answers_help(installed, tmp_path):
    result = run(installed, "-m", "market_weather.producer", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fetch" in result.stdout and "backfill" in result.stdout


def test_the_wheel_holds_every_module_of_the_checkout(installed, tmp_path):
    """Each src root that pyproject.toml names lands in the wheel: no module of a component is left behind."""
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    roots = [PROJECT_ROOT / root for root in pyproject["tool"]["hatch"]["build"]["dev-mode-dirs"]]
    modules = sorted(
        ".".join(path.relative_to(root).with_suffix("").parts)
        for root in roots
        for path in root.rglob("*.py")
        if "node_modules" not in path.parts
    )
    assert len(modules) > 50
    script = f"import importlib.util as u, json; print(json.dumps([m for m in {modules!r} if u.find_spec(m) is None]))"
    result = run(installed, "-c", script, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
