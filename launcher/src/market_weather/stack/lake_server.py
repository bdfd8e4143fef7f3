"""The SecantusDB lake server for the local stack: the MongoDB protocol on MONGO_URI's host and port, its
data under the state folder, as compose's mongo service serves the lake.

Two servers open the same data folder: the Rust server (`secantusd-rs`, built once by `make setup` into
`.local/tools/`), several times faster on every operation the platform makes, and the Python server from the
virtualenv, the fallback where no Rust toolchain can build the other. LAKE_SERVER chooses; `auto` takes the
Rust server when it is built.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.uri_parser import parse_uri

from market_weather.lake import ensure_lake_indexes
from market_weather.settings import PROJECT_ROOT, LakeServerSettings, LakeSettings
from market_weather.stack.errors import StackError

# The Rust server's crate and version: the one place they are pinned.
RUST_CRATE = "secantus-mdb"
RUST_VERSION = "0.5.3-beta.196"
# Built once per checkout, beside the other installed tools (`make clean-data` keeps them).
RUST_ROOT = PROJECT_ROOT / ".local" / "tools" / f"{RUST_CRATE}-{RUST_VERSION}"
RUST_BINARY = RUST_ROOT / "bin" / "secantusd-rs"
BUILD_LOG = PROJECT_ROOT / ".local" / "logs" / "lake-server-build.log"
FASTER = f"`make setup` with Rust's cargo builds the Rust server ({RUST_CRATE} {RUST_VERSION}), several times faster"


@dataclass(frozen=True)
class Server:
    """The lake server the stack runs: which, and its program."""

    kind: str  # "rust" or "python"
    path: Path

    @property
    def name(self) -> str:
        if self.kind == "rust":
            return f"SecantusDB Rust server {RUST_VERSION}"
        return "SecantusDB Python server"


def python_binary() -> Path:
    return Path(sys.executable).parent / "secantusd-py"


def chosen(settings: LakeServerSettings) -> Server:
    """The server LAKE_SERVER names; `auto`: the Rust one when setup built it, else the Python one."""
    if settings.LAKE_SERVER == "rust" or (settings.LAKE_SERVER == "auto" and RUST_BINARY.exists()):
        if not RUST_BINARY.exists():
            raise StackError(f"LAKE_SERVER=rust, but the Rust lake server is not built: run make setup ({FASTER})")
        return Server("rust", RUST_BINARY)
    if not python_binary().exists():
        raise StackError("the SecantusDB Python server is not installed in this virtualenv: run make setup")
    return Server("python", python_binary())


def address(settings: LakeSettings) -> tuple[str, int]:
    """The host and port the server listens on: MONGO_URI's first."""
    host, port = parse_uri(settings.MONGO_URI)["nodelist"][0]
    return host, port


def command(settings: LakeSettings, server: Server, storage: Path) -> list[str]:
    """The server on loopback over `storage`, logging warnings and errors only (no slow-query lines)."""
    host, port = address(settings)
    argv = [str(server.path), "--host", host, "--port", str(port), "--storage-path", str(storage)]
    if server.kind == "rust" and isinstance(settings, LakeServerSettings):
        argv += ["--cache-size", f"{settings.LAKE_CACHE_MB}M"]
    return [*argv, "--log-level", "WARNING"]


def ensure_indexes(settings: LakeSettings) -> None:
    with MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=5000) as client:
        ensure_lake_indexes(client[settings.MONGO_DB])


def check(settings: LakeSettings, server: Server) -> str:
    with MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=1000) as client:
        version = client.server_info()["version"]
    host, port = address(settings)
    line = f"{server.name} (MongoDB {version} protocol) on {host}:{port}"
    return line if server.kind == "rust" else f"{line}; {FASTER}"


def build_rust_server() -> str | None:
    """Build the Rust server once into RUST_ROOT, or say why the Python server stays; a line for the user.

    Once built, a call builds and says nothing. cargo's own output goes to BUILD_LOG; the terminal gets one line
    before and one after. No cargo: the Python server stays the lake, and the line says how to get the faster one."""
    if RUST_BINARY.exists():
        return None
    cargo = shutil.which("cargo") or next(
        (str(p) for p in (Path.home() / ".cargo" / "bin" / "cargo",) if p.exists()), None
    )
    if cargo is None:
        return f"lake server: no Rust toolchain (cargo), so the lake runs on SecantusDB's Python server; {FASTER}"
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    print(
        f"building the lake's Rust server {RUST_CRATE} {RUST_VERSION} (once; about 10 minutes on two cores;"
        f" log in {BUILD_LOG}) ...",
        flush=True,
    )
    # The crate asks for a newer Rust than it needs; --locked builds the dependency versions it was released with.
    install = [cargo, "install", RUST_CRATE, "--version", RUST_VERSION, "--locked", "--ignore-rust-version"]
    with BUILD_LOG.open("w") as log:
        result = subprocess.run([*install, "--root", str(RUST_ROOT)], stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0 or not RUST_BINARY.exists():
        tail = BUILD_LOG.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise StackError(
            f"building {RUST_CRATE} {RUST_VERSION} failed ({tail[0]}); see {BUILD_LOG}."
            " It needs cmake and a C compiler (tools/system-packages installs them); LAKE_SERVER=python runs the"
            " Python server meanwhile"
        )
    return f"lake server: built {RUST_CRATE} {RUST_VERSION} into {RUST_BINARY}"


def main() -> int:
    """`python -m market_weather.stack.lake_server`: what `make setup` runs."""
    try:
        line = build_rust_server()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if line:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
