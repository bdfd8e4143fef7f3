"""The SecantusDB lake server for the local stack: the MongoDB protocol on MONGO_URI's host and port, its
data under the state folder, as compose's mongo service serves the lake.

Two servers open the same data folder: the Rust server (`secantusd-rs`, built once by `make setup` into
`.local/tools/`), several times faster on every operation the platform makes, and the Python server from the
virtualenv, the fallback where no Rust toolchain can build the other. LAKE_SERVER chooses; `auto` takes the
Rust server when it is built.

The lake runs with logins (SCRAM-SHA-256), as compose's mongo does: the pipeline's, MONGO_URI's, may do anything;
the reader's (LAKE_READER_USER) may read MONGO_DB and nothing else, and is all Mongo Express and the dashboard
hold. A client without a login may not read or write. `provision` gives a lake these two logins.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.uri_parser import parse_uri

from market_weather.lake import ensure_lake_indexes
from market_weather.settings import PROJECT_ROOT, LakeReaderSettings, LakeServerSettings, LakeSettings, Settings
from market_weather.stack.errors import StackError
from market_weather.stack.ports import free_port

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


def command(settings: LakeSettings, server: Server, storage: Path, port: int | None = None) -> list[str]:
    """The server on loopback over `storage`, logins required, logging warnings and errors only (no slow-query
    lines). With `port`: on that port, without logins (what `provision` runs for a moment)."""
    host, listen = address(settings)
    argv = [str(server.path), "--host", host, "--port", str(port or listen), "--storage-path", str(storage)]
    if server.kind == "rust" and isinstance(settings, LakeServerSettings):
        argv += ["--cache-size", f"{settings.LAKE_CACHE_MB}M"]
    return [*argv, "--log-level", "WARNING", *(["--auth"] if port is None else [])]


@dataclass(frozen=True)
class Login:
    user: str
    password: str
    database: str  # where the user is defined (the URI's authSource)
    roles: tuple[tuple[str, str], ...]  # (role, database)


def owner_login(settings: LakeSettings) -> Login:
    """The pipeline's login, MONGO_URI's: the lake's root."""
    uri = parse_uri(settings.MONGO_URI)
    if not uri["username"] or not uri["password"]:
        raise StackError(
            "MONGO_URI names no user and password, and the local lake requires a login:"
            " write it as in .env (mongodb://USER:PASSWORD@127.0.0.1:27017/?authSource=admin)"
        )
    source = uri["options"].get("authSource") or uri["database"] or "admin"
    return Login(uri["username"], uri["password"], source, (("root", "admin"),))


def reader_login(settings: LakeSettings, reader: LakeReaderSettings) -> Login:
    """The read-only login: `read` on MONGO_DB, defined there."""
    return Login(
        reader.LAKE_READER_USER,
        reader.LAKE_READER_PASSWORD.get_secret_value(),
        settings.MONGO_DB,
        (("read", settings.MONGO_DB),),
    )


def reader_uri(settings: Settings) -> str:
    """MONGO_URI's hosts as the read-only login, MONGO_DB as the database: what compose hands Mongo Express and
    the dashboard (`mongodb://READER:PASSWORD@HOST/DB?authSource=DB`)."""
    host, port = address(settings)
    login = reader_login(settings, settings)
    userinfo = f"{quote(login.user, safe='')}:{quote(login.password, safe='')}"
    database = quote(settings.MONGO_DB, safe="")
    return f"mongodb://{userinfo}@{host}:{port}/{database}?{urlencode({'authSource': settings.MONGO_DB})}"


def where(settings: Settings) -> str:
    """The lake and its logins for the user, no password: `127.0.0.1:27017 database lake, user root ...`."""
    host, port = address(settings)
    owner = parse_uri(settings.MONGO_URI)["username"] or "(none)"
    return (
        f"{host}:{port} database {settings.MONGO_DB}, user {owner} (its password in MONGO_URI in .env),"
        f" read-only user {settings.LAKE_READER_USER}"
    )


def logins(settings: Settings) -> list[Login]:
    return [owner_login(settings), reader_login(settings, settings)]


def ensure_user(db: Database, login: Login) -> None:
    roles = [{"role": role, "db": database} for role, database in login.roles]
    found = db.command("usersInfo", login.user)["users"]
    if found:
        db.command("updateUser", login.user, pwd=login.password, roles=roles)
    else:
        db.command("createUser", login.user, pwd=login.password, roles=roles)


def provision(settings: Settings, server: Server, storage: Path) -> None:
    """Give the lake in `storage` the two logins with the passwords the settings hold (created, or their
    passwords and roles set). The server runs for it a moment without logins, on a loopback port of its own
    rather than the one programs know. Run while the lake is stopped; it leaves it stopped."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            command(settings, server, storage, port=port), stdout=output, stderr=subprocess.STDOUT
        )
        try:
            with MongoClient("127.0.0.1", port, document_class=dict, serverSelectionTimeoutMS=60_000) as client:
                for login in logins(settings):
                    ensure_user(client[login.database], login)
        except PyMongoError as exc:
            process.terminate()
            process.wait(timeout=120)
            output.seek(0)
            said = " ".join(output.read().split())[-500:]
            raise StackError(
                f"giving the lake in {storage} its logins failed: {exc}; the server said: {said}"
            ) from None
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=120)


def ensure_indexes(settings: LakeSettings) -> None:
    with MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=5000) as client:
        ensure_lake_indexes(client[settings.MONGO_DB])


def check(settings: LakeSettings, server: Server) -> str:
    with MongoClient(settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=1000) as client:
        version = client.server_info()["version"]
    host, port = address(settings)
    with MongoClient(host, port, document_class=dict, serverSelectionTimeoutMS=1000) as anonymous:
        try:
            anonymous[settings.MONGO_DB].list_collection_names()
        except OperationFailure:
            pass  # as it should: no login, no answer
        else:
            raise StackError(f"the lake on {host}:{port} answers without a login: restart it (make stop, make start)")
    line = f"{server.name} (MongoDB {version} protocol) on {host}:{port}, logins required"
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
