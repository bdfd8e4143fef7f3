"""The top level its users were promised: a folder per component holding its code, every `src/` root of the one
`market_weather` namespace known to the packaging, the type checker and the Docker image alike."""

from __future__ import annotations

import tomllib

from market_weather.settings import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
ROOTS = sorted(str(path.parent.relative_to(PROJECT_ROOT)) for path in PROJECT_ROOT.glob("*/src/market_weather"))


def test_each_component_folder_holds_its_code():
    where = {
        "contract": "contract.py",
        "producer": "producer/coincap.py",
        "spark": "job/transforms.py",
        "postgres": "warehouse/migrations/0001_warehouse.sql",
        "dashboard": "dashboard/app.py",
        "orchestration": "orchestration/connections.py",
        "launcher": "stack/services.py",
    }
    for folder, path in where.items():
        assert (PROJECT_ROOT / folder / "src" / "market_weather" / path).is_file(), f"{folder}/ lacks {path}"
    assert (PROJECT_ROOT / "spark" / "jars" / "pom.xml").is_file()
    assert (PROJECT_ROOT / "postgres" / "initdb.sh").is_file()
    assert not (PROJECT_ROOT / "market_weather").exists(), "no code outside the component folders"


def test_the_namespace_has_no_init_in_any_root():
    """A PEP 420 namespace: an __init__.py in one root would hide the others."""
    assert ROOTS and all(not (PROJECT_ROOT / root / "market_weather" / "__init__.py").exists() for root in ROOTS)


def test_every_root_is_packaged_type_checked_and_copied_into_the_image():
    hatch = PYPROJECT["tool"]["hatch"]["build"]
    assert sorted(hatch["dev-mode-dirs"]) == ROOTS
    assert sorted(hatch["targets"]["wheel"]["sources"]) == ROOTS
    assert sorted(hatch["targets"]["wheel"]["only-include"]) == [f"{root}/market_weather" for root in ROOTS]
    mypy = PYPROJECT["tool"]["mypy"]
    assert sorted(mypy["mypy_path"]) == ROOTS and set(ROOTS) <= set(mypy["files"])
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    for root in ROOTS:
        folder = root.split("/")[0]
        assert f"COPY --chown=airflow:0 {folder} ./{folder}\n" in dockerfile
