"""Which lake server the local stack runs (LAKE_SERVER), how it is started, and how setup builds the Rust one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pymongo.uri_parser import parse_uri

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
    return load_settings(
        **{"POSTGRES_PASSWORD": "x", "MONGO_URI": "mongodb://root:pw@127.0.0.1:27999/?authSource=admin", **overrides}
    )


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


def test_the_rust_server_listens_on_loopback_with_logins_its_cache_sized_and_its_log_quiet(built, tmp_path):
    s = settings(LAKE_CACHE_MB=200)
    argv = lake_server.command(s, lake_server.Server("rust", built), tmp_path / "lake")
    assert argv == [
        str(built), "--host", "127.0.0.1", "--port", "27999", "--storage-path", str(tmp_path / "lake"),
        "--cache-size", "200M", "--log-level", "WARNING", "--auth",
    ]  # fmt: skip
    python = lake_server.command(s, lake_server.Server("python", Path("secantusd-py")), tmp_path / "lake")
    assert "--cache-size" not in python and python[-3:] == ["--log-level", "WARNING", "--auth"]


def test_only_provisioning_runs_the_server_without_logins_on_a_port_of_its_own(built, tmp_path):
    argv = lake_server.command(settings(), lake_server.Server("rust", built), tmp_path / "lake", port=40001)
    assert "--auth" not in argv and argv[argv.index("--port") + 1] == "40001"


def test_the_logins_come_from_mongo_uri_and_the_reader_settings():
    s = settings(
        MONGO_URI="mongodb://pipe%40line:p%2Fw@127.0.0.1:27999/?authSource=admin",
        MONGO_DB="raw",
        LAKE_READER_USER="looker",
        LAKE_READER_PASSWORD="se:cr@t",
    )
    owner, reader = lake_server.logins(s)
    assert owner == lake_server.Login("pipe@line", "p/w", "admin", (("root", "admin"),))
    assert reader == lake_server.Login("looker", "se:cr@t", "raw", (("read", "raw"),))
    uri = parse_uri(lake_server.reader_uri(s))
    assert (uri["username"], uri["password"], uri["database"]) == ("looker", "se:cr@t", "raw")
    assert uri["nodelist"] == [("127.0.0.1", 27999)] and uri["options"]["authSource"] == "raw"


def test_a_mongo_uri_without_a_login_says_the_local_lake_requires_one():
    with pytest.raises(StackError, match=r"MONGO_URI names no user and password.*mongodb://USER:PASSWORD@"):
        lake_server.owner_login(settings(MONGO_URI="mongodb://127.0.0.1:27999"))


def test_what_the_user_is_shown_names_the_logins_and_no_password():
    s = settings(MONGO_URI="mongodb://root:owner-secret@127.0.0.1:27999/?authSource=admin")
    shown = lake_server.where(s)
    assert "owner-secret" not in shown and s.LAKE_READER_PASSWORD.get_secret_value() not in shown
    assert "127.0.0.1:27999" in shown and "user root" in shown and s.LAKE_READER_USER in shown


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
