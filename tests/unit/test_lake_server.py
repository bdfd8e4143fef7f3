"""Which lake server the local stack runs (LAKE_SERVER), how it is started, and how setup builds the Rust one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from market_weather.settings import PROJECT_ROOT, load_settings
from market_weather.stack import lake_server
from market_weather.stack.errors import StackError


@pytest.fixture
def built(tmp_path, monkeypatch) -> Path:
    """A Rust server binary where setup puts it (an empty stand-in: nothing here runs it)."""
    binary = tmp_path / "bin" / "secantusd-rs"
    monkeypatch.setattr(lake_server, "RUST_BINARY", binary)
    return binary


def settings(**overrides):
    return load_settings(POSTGRES_PASSWORD="x", MONGO_URI="mongodb://127.0.0.1:27999", **overrides)


@pytest.mark.parametrize(
    ("setting", "is_built", "kind"),
    [
        ("auto", True, "rust"),
        ("auto", False, "python"),
        ("rust", True, "rust"),
        ("python", True, "python"),
        ("python", False, "python"),
    ],
)
def test_lake_server_chooses(built, setting, is_built, kind):
    if is_built:
        built.parent.mkdir(parents=True)
        built.touch()
    server = lake_server.chosen(settings(LAKE_SERVER=setting))
    assert server.kind == kind
    assert server.path == (built if kind == "rust" else Path(sys.executable).parent / "secantusd-py")


def test_asking_for_the_rust_server_before_it_is_built_says_how_to_build_it(built):
    with pytest.raises(StackError, match=r"LAKE_SERVER=rust, but the Rust lake server is not built: run make setup"):
        lake_server.chosen(settings(LAKE_SERVER="rust"))


def test_an_unknown_lake_server_is_refused_by_name():
    with pytest.raises(Exception, match="LAKE_SERVER"):
        settings(LAKE_SERVER="mongod")


def test_the_rust_server_listens_on_loopback_with_its_cache_sized_and_its_log_quiet(built, tmp_path):
    s = settings(LAKE_CACHE_MB=200)
    argv = lake_server.command(s, lake_server.Server("rust", built), tmp_path / "lake")
    assert argv == [
        str(built), "--host", "127.0.0.1", "--port", "27999", "--storage-path", str(tmp_path / "lake"),
        "--cache-size", "200M", "--log-level", "WARNING",
    ]  # fmt: skip
    python = lake_server.command(s, lake_server.Server("python", Path("secantusd-py")), tmp_path / "lake")
    assert "--cache-size" not in python and python[-2:] == ["--log-level", "WARNING"]


def test_without_cargo_setup_builds_nothing_and_says_how_to_get_the_faster_server(built, monkeypatch, tmp_path):
    monkeypatch.setattr(lake_server.shutil, "which", lambda name: None)
    monkeypatch.setattr(lake_server.Path, "home", lambda: tmp_path)
    line = lake_server.build_rust_server()
    assert line is not None and line.startswith("lake server: no Rust toolchain (cargo)")
    assert "Python server" in line and "make setup" in line and lake_server.RUST_VERSION in line
    assert not built.exists()


def test_once_built_setup_builds_and_says_nothing(built, monkeypatch):
    built.parent.mkdir(parents=True)
    built.touch()
    monkeypatch.setattr(lake_server.subprocess, "run", lambda *a, **k: pytest.fail("nothing is built twice"))
    assert lake_server.build_rust_server() is None


def test_the_version_is_pinned_in_one_place():
    root = PROJECT_ROOT
    assert lake_server.RUST_ROOT.name == f"secantus-mdb-{lake_server.RUST_VERSION}"
    for path in ("Makefile", ".ci/run", "tools/system-packages", "pyproject.toml"):
        assert lake_server.RUST_VERSION not in (root / path).read_text(), path
