"""The local stack: project-local PostgreSQL and the SecantusDB lake server, supervised by supervisord.

Everything lives under LOCAL_STATE_DIR (git-ignored): data, sockets, logs and the generated
supervisord configuration. Starting is idempotent: what exists is reused, what runs is left running.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri
from supervisor.xmlrpc import SupervisorTransport

from common.settings import PROJECT_ROOT, Settings
from producer.lake import ensure_lake_indexes

SQL_DIR = PROJECT_ROOT / "postgres" / "init"
PG_SUPERUSER = "postgres"


class StackError(RuntimeError):
    """Something the user can act on: the message says what and how."""


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    healthy: bool
    detail: str


def find_postgres_bindir() -> Path:
    """Debian installs the server under /usr/lib/postgresql/<major>/bin; take the newest."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
    )
    if candidates:
        return candidates[-1].parent
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    raise StackError(
        "PostgreSQL server binaries (initdb, postgres) are not installed. "
        "Install them with: sudo apt-get install -y postgresql"
    )


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class LocalStack:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.state_dir = Path(settings.LOCAL_STATE_DIR).resolve()
        self.pg_root = self.state_dir / "postgres"
        self.pg_data = self.pg_root / "data"
        self.pg_run = self.pg_root / "run"
        self.lake_dir = self.state_dir / "lake"
        self.log_dir = self.state_dir / "logs"
        self.conf_path = self.state_dir / "supervisord.conf"
        self.socket_path = self.state_dir / "supervisor.sock"
        nodes = parse_uri(settings.MONGO_URI)["nodelist"]
        self.lake_host, self.lake_port = nodes[0]
        # PostgreSQL refuses to run as root; then the cluster belongs to the 'postgres' system user.
        self.pg_os_user = PG_SUPERUSER if os.geteuid() == 0 else getpass.getuser()

    # ----------------------------------------------------------------------------------- start
    def start(self) -> None:
        if self._supervisor_running():
            if self._stopped_programs():
                self._supervisor().supervisor.startAllProcesses(True)
        else:
            self._preflight()
            self._init_postgres()
            self._write_supervisor_conf()
            self._start_supervisor()
        self.wait_healthy()
        self._bootstrap_warehouse()
        self.apply_sql()
        with MongoClient(self.settings.MONGO_URI, serverSelectionTimeoutMS=5000) as client:
            ensure_lake_indexes(client[self.settings.MONGO_DB])

    def _preflight(self) -> None:
        self.bindir = find_postgres_bindir()
        if self.pg_os_user != getpass.getuser():
            try:
                pwd.getpwnam(self.pg_os_user)
            except KeyError:
                raise StackError(
                    "running as root, PostgreSQL needs the 'postgres' system user, which the "
                    "Debian package creates: sudo apt-get install -y postgresql"
                ) from None
        checks = [
            ("127.0.0.1", self.settings.POSTGRES_PORT, "POSTGRES_PORT"),
            (self.lake_host, self.lake_port, "MONGO_URI"),
        ]
        for host, port, setting in checks:
            if not _port_is_free(host, port):
                raise StackError(
                    f"port {port} on {host} is already in use by another program; stop that "
                    f"program or choose another port with {setting} in .env"
                )

    def _as_pg_user(self, argv: list[str]) -> list[str]:
        if self.pg_os_user == getpass.getuser():
            return argv
        return ["runuser", "-u", self.pg_os_user, "--", *argv]

    def _init_postgres(self) -> None:
        for path in (self.state_dir, self.log_dir, self.lake_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.pg_root.mkdir(parents=True, exist_ok=True)
        self.pg_run.mkdir(exist_ok=True)
        if self.pg_os_user != getpass.getuser():
            # The server's user must be able to reach its folders through ours.
            self.state_dir.chmod(0o755)
            entry = pwd.getpwnam(self.pg_os_user)
            for path in (self.pg_root, self.pg_run):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            reachable = subprocess.run(self._as_pg_user(["test", "-w", str(self.pg_root)]), capture_output=True)
            if reachable.returncode != 0:
                raise StackError(
                    f"running as root, PostgreSQL runs as the '{self.pg_os_user}' user, which cannot reach "
                    f"{self.pg_root}: a parent folder is closed to other users. Set LOCAL_STATE_DIR in .env to "
                    "a folder it can reach, or run as an ordinary user"
                )
        if (self.pg_data / "PG_VERSION").exists():
            return
        result = subprocess.run(
            self._as_pg_user([
                str(self.bindir / "initdb"), "-D", str(self.pg_data), "-U", PG_SUPERUSER,
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                "--locale=C.UTF-8", "--no-instructions",
            ]),
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed for {self.pg_data}:\n{result.stderr.strip()}")

    def _write_supervisor_conf(self) -> None:
        bin_dir = Path(sys.executable).parent
        secantus = bin_dir / "secantusd-py"
        if not secantus.exists():
            raise StackError("the SecantusDB server is not installed in this virtualenv: run make setup")
        pg_user_line = f"user={self.pg_os_user}\n" if self.pg_os_user != getpass.getuser() else ""
        self.conf_path.write_text(
            f"""[unix_http_server]
file={self.socket_path}
chmod=0700

[supervisord]
logfile={self.log_dir / "supervisord.log"}
pidfile={self.state_dir / "supervisord.pid"}
childlogdir={self.log_dir}
directory={self.state_dir}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{self.socket_path}

[program:postgres]
command={self.bindir / "postgres"} -D {self.pg_data} -p {self.settings.POSTGRES_PORT} -k {self.pg_run} -c listen_addresses=127.0.0.1
{pg_user_line}stopsignal=INT
stopwaitsecs=60
startsecs=2
autorestart=true
redirect_stderr=true
stdout_logfile={self.log_dir / "postgres.log"}

[program:lake]
command={secantus} --host {self.lake_host} --port {self.lake_port} --storage-path {self.lake_dir} --log-level WARNING
stopsignal=TERM
stopwaitsecs=60
startsecs=2
autorestart=true
redirect_stderr=true
stdout_logfile={self.log_dir / "lake.log"}
"""
        )

    def _start_supervisor(self) -> None:
        supervisord = Path(sys.executable).parent / "supervisord"
        result = subprocess.run([str(supervisord), "-c", str(self.conf_path)], capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"supervisord did not start: {result.stderr.strip() or result.stdout.strip()}")
        deadline = time.monotonic() + 15
        while not self._supervisor_running():
            if time.monotonic() > deadline:
                raise StackError(f"supervisord did not answer; see {self.log_dir / 'supervisord.log'}")
            time.sleep(0.2)

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.status()
            if all(s.healthy for s in statuses):
                return
            if time.monotonic() > deadline:
                sick = "; ".join(f"{s.name}: {s.state} ({s.detail})" for s in statuses if not s.healthy)
                raise StackError(f"services not healthy after {timeout:.0f}s: {sick}; logs in {self.log_dir}")
            time.sleep(0.5)

    def _bootstrap_warehouse(self) -> None:
        """Create the warehouse role and database (as the postgres image does from POSTGRES_*)."""
        s = self.settings
        with psycopg.connect(
            host=str(self.pg_run), port=s.POSTGRES_PORT, user=PG_SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [s.POSTGRES_USER]).fetchone()
            verb = sql.SQL("ALTER" if role_exists else "CREATE")
            conn.execute(
                sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(
                    verb, sql.Identifier(s.POSTGRES_USER), sql.Literal(s.POSTGRES_PASSWORD.get_secret_value())
                )
            )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [s.POSTGRES_DB]).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(s.POSTGRES_DB), sql.Identifier(s.POSTGRES_USER)
                    )
                )

    def apply_sql(self) -> None:
        """Apply postgres/init/*.sql in order, as the postgres image applies its init directory."""
        with psycopg.connect(**self.settings.postgres_conninfo, autocommit=True) as conn:
            for path in sorted(SQL_DIR.glob("*.sql")):
                conn.execute(path.read_text())

    # ---------------------------------------------------------------------------------- status
    def _supervisor(self):
        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{self.socket_path}")
        )

    def _supervisor_running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return self._supervisor().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def _stopped_programs(self) -> list[str]:
        return [p["name"] for p in self._supervisor().supervisor.getAllProcessInfo() if p["statename"] != "RUNNING"]

    def status(self) -> list[ServiceStatus]:
        if not self._supervisor_running():
            return [ServiceStatus(name, "STOPPED", False, "not started") for name in ("postgres", "lake")]
        states = {p["name"]: p["statename"] for p in self._supervisor().supervisor.getAllProcessInfo()}
        return [
            self._check("postgres", states.get("postgres", "UNKNOWN"), self._postgres_ok),
            self._check("lake", states.get("lake", "UNKNOWN"), self._lake_ok),
        ]

    @staticmethod
    def _check(name: str, state: str, probe) -> ServiceStatus:
        if state != "RUNNING":
            return ServiceStatus(name, state, False, "process not running")
        try:
            return ServiceStatus(name, state, True, probe())
        except Exception as exc:  # any failure to answer means not healthy yet
            return ServiceStatus(name, state, False, type(exc).__name__)

    def _postgres_ok(self) -> str:
        with psycopg.connect(
            host=str(self.pg_run), port=self.settings.POSTGRES_PORT, user=PG_SUPERUSER,
            dbname="postgres", connect_timeout=2,
        ) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        return f"PostgreSQL {version} on 127.0.0.1:{self.settings.POSTGRES_PORT}"

    def _lake_ok(self) -> str:
        with MongoClient(self.settings.MONGO_URI, serverSelectionTimeoutMS=1000) as client:
            version = client.server_info()["version"]
        return f"SecantusDB (MongoDB {version} protocol) on {self.lake_host}:{self.lake_port}"

    # ------------------------------------------------------------------------------------ stop
    def stop(self) -> bool:
        """Stop every service and supervisord itself; False when nothing was running."""
        if not self._supervisor_running():
            return False
        pid_file = self.state_dir / "supervisord.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        self._supervisor().supervisor.shutdown()
        deadline = time.monotonic() + 90
        while pid and _pid_alive(pid):
            if time.monotonic() > deadline:
                raise StackError(f"supervisord (pid {pid}) did not stop; see {self.log_dir}")
            time.sleep(0.2)
        return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
