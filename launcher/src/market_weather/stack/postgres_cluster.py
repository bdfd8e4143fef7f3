"""The local stack's PostgreSQL cluster, made as the postgres image makes one: initdb, the server's command,
the warehouse's and Airflow's roles and databases, and the check that it answers.

The server listens on 127.0.0.1 only, and its socket folder is for the server's OS user alone: other local
users come through TCP with a password. PostgreSQL refuses to run as root; then the cluster belongs to the
'postgres' system user that Debian's package creates.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from market_weather.settings import Settings
from market_weather.stack import airflow_local
from market_weather.stack.errors import StackError

PG_SUPERUSER = "postgres"


def find_postgres_bindir() -> Path:
    """Debian installs the server under /usr/lib/postgresql/<major>/bin; take the newest."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise StackError(
        "PostgreSQL server binaries (initdb, postgres) are not installed. "
        "Install them with: sudo apt-get install -y postgresql"
    )


def server_user() -> str:
    """The OS user the cluster belongs to: ours, or 'postgres' when we are root."""
    return PG_SUPERUSER if os.geteuid() == 0 else getpass.getuser()


def as_user(os_user: str, argv: list[str]) -> list[str]:
    if os_user == getpass.getuser():
        return argv
    return ["runuser", "-u", os_user, "--", *argv]


def server_command(bindir: Path, data: Path, run_dir: Path, port: int) -> list[str]:
    return [
        str(bindir / "postgres"),
        "-D",
        str(data),
        "-p",
        str(port),
        "-k",
        str(run_dir),
        "-c",
        "listen_addresses=127.0.0.1",
        # Its socket for its owner alone: other local users come through TCP with a password.
        "-c",
        "unix_socket_permissions=0700",
    ]


def initdb_command(bindir: Path, data: Path) -> list[str]:
    return [
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        PG_SUPERUSER,
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
        "--no-instructions",
    ]


def init_cluster(state_dir: Path, root: Path, data: Path, run_dir: Path, os_user: str) -> None:
    """The cluster's folders, reachable by its OS user, and `initdb` unless the cluster exists."""
    bindir = find_postgres_bindir()
    other_user = os_user != getpass.getuser()
    if other_user:
        try:
            entry = pwd.getpwnam(os_user)
        except KeyError:
            raise StackError(
                "running as root, PostgreSQL needs the 'postgres' system user, which the "
                "Debian package creates: sudo apt-get install -y postgresql"
            ) from None
    root.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(exist_ok=True)
    run_dir.chmod(0o700)  # the socket's folder, for the server's user alone
    if other_user:
        # The server's user must be able to reach its folders through ours.
        state_dir.chmod(0o755)
        for path in (root, run_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        reachable = subprocess.run(as_user(os_user, ["test", "-w", str(root)]), capture_output=True)
        if reachable.returncode != 0:
            raise StackError(
                f"running as root, PostgreSQL runs as the '{os_user}' user, which cannot reach "
                f"{root}: a parent folder is closed to other users. Set LOCAL_STATE_DIR in .env to "
                "a folder it can reach, or run as an ordinary user"
            )
    if (data / "PG_VERSION").exists():
        return
    result = subprocess.run(as_user(os_user, initdb_command(bindir, data)), capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"initdb failed for {data}:\n{result.stderr.strip()}")


def database_owners(settings: Settings) -> list[tuple[str, str, str]]:
    """(role, password, database) of the warehouse and of Airflow's metadata."""
    return [
        (settings.POSTGRES_USER, settings.POSTGRES_PASSWORD.get_secret_value(), settings.POSTGRES_DB),
        (settings.AIRFLOW_DB_USER, settings.AIRFLOW_DB_PASSWORD.get_secret_value(), airflow_local.AIRFLOW_DB),
    ]


def _superuser(settings: Settings, run_dir: Path, **options) -> psycopg.Connection:
    return psycopg.connect(
        host=str(run_dir), port=settings.POSTGRES_PORT, user=PG_SUPERUSER, dbname="postgres", **options
    )


def bootstrap_databases(settings: Settings, run_dir: Path) -> None:
    """The warehouse's role and database (as the postgres image makes them from POSTGRES_*), and
    Airflow's (as compose's postgres/initdb.sh does); a role that exists takes its password again."""
    with _superuser(settings, run_dir, autocommit=True) as conn:
        for role, password, database in database_owners(settings):
            role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            verb = sql.SQL("ALTER" if role_exists else "CREATE")
            # The warehouse's owner creates the read-only role and login in its migrations, as the
            # postgres image's POSTGRES_USER (a superuser) does in compose.
            rights = sql.SQL(" CREATEROLE" if database == settings.POSTGRES_DB else "")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN{} PASSWORD {}").format(
                    verb, sql.Identifier(role), rights, sql.Literal(password)
                )
            )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
                )


def check(settings: Settings, run_dir: Path) -> str:
    with _superuser(settings, run_dir, connect_timeout=2) as conn:
        (version,) = conn.execute("SHOW server_version").fetchone() or ("unknown",)
    return f"PostgreSQL {version} on 127.0.0.1:{settings.POSTGRES_PORT}"
