"""The local stack, supervised by supervisord: PostgreSQL and the SecantusDB lake (`start`), plus
Airflow standalone, Mongo Express and pgAdmin (`start(full=True)`, what `make run` does).

Everything lives under LOCAL_STATE_DIR (git-ignored): data, logs, sockets and the generated
supervisord configuration. Starting is idempotent: what exists is reused, what runs is left running.
"""

from __future__ import annotations

import getpass
import json
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri
from supervisor.xmlrpc import SupervisorTransport

from market_weather.files import write_private
from market_weather.lake import ensure_lake_indexes
from market_weather.settings import Settings, load_settings
from market_weather.stack.errors import StackError
from market_weather.warehouse.migrate import migrate

PG_SUPERUSER = "postgres"
CORE = ("postgres", "lake")
USER_INTERFACES = ("airflow", "mongo_express", "pgadmin")

__all__ = ["LocalStack", "ServiceStatus", "StackError", "find_postgres_bindir", "free_port", "isolated_settings"]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    healthy: bool
    detail: str


@dataclass
class Program:
    """One supervised process: how to run it, and how to tell that it answers."""

    name: str
    command: list[str]
    check: Callable[[], str]
    port: tuple[str, int, str]  # host, port, and the setting that chooses it
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stopsignal: str = "TERM"
    whole_group: bool = False  # the program starts children of its own


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


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on now, chosen by the OS: for throw-away stacks (tests, bench)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings of a throw-away stack that runs beside any other (tests, the bench): its own state folder,
    free ports, and simulated sources whatever keys the environment holds."""
    return load_settings(
        **{
            "LOCAL_STATE_DIR": state_dir,
            "POSTGRES_PORT": free_port(),
            "MONGO_URI": f"mongodb://127.0.0.1:{free_port()}",
            "AIRFLOW_UI_PORT": free_port(),
            "MONGO_EXPRESS_PORT": free_port(),
            "PGADMIN_PORT": free_port(),
            "PRODUCER_SOURCE": "simulated",
            "COINCAP_API_KEY": "",
            "OPENWEATHER_API_KEY": "",
            **overrides,
        }
    )


class LocalStack:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.state_dir = Path(settings.LOCAL_STATE_DIR).resolve()
        self.pg_root = self.state_dir / "postgres"
        self.pg_data = self.pg_root / "data"
        self.pg_run = self.pg_root / "run"
        self.lake_dir = self.state_dir / "lake"
        self.log_dir = self.state_dir / "logs"
        self.airflow_home = self.state_dir / "airflow"
        self.conf_path = self.state_dir / "supervisord.conf"
        self.socket_path = self.state_dir / "supervisor.sock"
        self.lake_host, self.lake_port = parse_uri(settings.MONGO_URI)["nodelist"][0]
        # PostgreSQL refuses to run as root; then the cluster belongs to the 'postgres' system user.
        self.pg_os_user = PG_SUPERUSER if os.geteuid() == 0 else getpass.getuser()

    # Data the stack keeps under LOCAL_STATE_DIR; installed tools (jars, venvs, npm trees) stay.
    DATA = ("postgres", "lake", "logs", "airflow", "pgadmin", "bench")

    def clean(self) -> list[Path]:
        """Stop everything, then delete the warehouse, the lake, logs and UI state; what was removed."""
        self.stop()
        removed = []
        for name in self.DATA:
            path = self.state_dir / name
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
        return removed

    # ----------------------------------------------------------------------------------- start
    def start(self, full: bool = False) -> bool:
        """Start the services (with the user interfaces when full); False if all were running already."""
        wanted = CORE + (USER_INTERFACES if full else ())
        if self._supervisor_running():
            configured = self._configured_programs()
            missing = [name for name in wanted if name not in configured]
            if not missing and not self._stopped_programs():
                return False
            if missing:
                self._prepare(wanted, preflight=missing)
                self._write_supervisor_conf(wanted)
                added, _, _ = self._supervisor().supervisor.reloadConfig()[0]
                for name in added:
                    self._supervisor().supervisor.addProcessGroup(name)
            self._supervisor().supervisor.startAllProcesses(True)
        else:
            self._prepare(wanted, preflight=wanted)
            self._write_supervisor_conf(wanted)
            self._start_supervisor()
        self.wait_healthy()
        self._bootstrap_warehouse()
        migrate(self.settings)  # what compose's airflow-init runs too
        with MongoClient(self.settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=5000) as client:
            ensure_lake_indexes(client[self.settings.MONGO_DB])
        return True

    def _programs(self, names) -> list[Program]:
        return [getattr(self, f"_{name}_program")() for name in names]

    def _prepare(self, wanted, preflight) -> None:
        """Check ports, then install and initialise what the wanted programs need."""
        for program in self._programs(preflight):
            host, port, setting = program.port
            if not _port_is_free(host, port):
                raise StackError(
                    f"port {port} on {host} is already in use by another program; stop that "
                    f"program or choose another port with {setting} in .env"
                )
        for path in (self.state_dir, self.log_dir, self.lake_dir):
            path.mkdir(parents=True, exist_ok=True)
        self._init_postgres()
        if "airflow" in wanted:
            from market_weather.stack import airflow_local

            airflow_local.prepare(self.settings, self.airflow_home)
        if "mongo_express" in wanted:
            from market_weather.stack import mongo_express

            mongo_express.ensure_installed(self.state_dir / "mongo-express")
        if "pgadmin" in wanted:
            from market_weather.stack import pgadmin

            pgadmin.ensure_installed(self._pgadmin_venv)
            pgadmin.prepare(self.settings, self._pgadmin_venv, self.state_dir)

    # ------------------------------------------------------------------------------- programs
    def _postgres_program(self) -> Program:
        bindir = find_postgres_bindir()
        return Program(
            "postgres",
            [
                str(bindir / "postgres"),
                "-D",
                str(self.pg_data),
                "-p",
                str(self.settings.POSTGRES_PORT),
                "-k",
                str(self.pg_run),
                "-c",
                "listen_addresses=127.0.0.1",
            ],
            self._postgres_ok,
            ("127.0.0.1", self.settings.POSTGRES_PORT, "POSTGRES_PORT"),
            user=self.pg_os_user if self.pg_os_user != getpass.getuser() else None,
            stopsignal="INT",  # PostgreSQL's fast shutdown
        )

    def _lake_program(self) -> Program:
        secantus = Path(sys.executable).parent / "secantusd-py"
        if not secantus.exists():
            raise StackError("the SecantusDB server is not installed in this virtualenv: run make setup")
        return Program(
            "lake",
            [
                str(secantus),
                "--host",
                self.lake_host,
                "--port",
                str(self.lake_port),
                "--storage-path",
                str(self.lake_dir),
                "--log-level",
                "WARNING",
            ],
            self._lake_ok,
            (self.lake_host, self.lake_port, "MONGO_URI"),
        )

    def _airflow_program(self) -> Program:
        from market_weather.stack import airflow_local

        return Program(
            "airflow",
            airflow_local.command(),
            lambda: airflow_local.check(self.settings),
            ("127.0.0.1", self.settings.AIRFLOW_UI_PORT, "AIRFLOW_UI_PORT"),
            environment=airflow_local.environment(self.settings, self.airflow_home),
            whole_group=True,
        )

    def _mongo_express_program(self) -> Program:
        from market_weather.stack import mongo_express

        app = self.state_dir / "mongo-express" / "node_modules" / "mongo-express" / "app.js"
        argv, env = mongo_express.command(self.settings, app)
        return Program(
            "mongo_express",
            argv,
            lambda: mongo_express.check(self.settings),
            ("127.0.0.1", self.settings.MONGO_EXPRESS_PORT, "MONGO_EXPRESS_PORT"),
            environment=env,
        )

    @property
    def _pgadmin_venv(self) -> Path:
        return self.state_dir / "pgadmin-venv"

    def _pgadmin_program(self) -> Program:
        from market_weather.stack import pgadmin

        argv, env = pgadmin.command(self.settings, self._pgadmin_venv, self.state_dir)
        return Program(
            "pgadmin",
            argv,
            lambda: pgadmin.check(self.settings),
            ("127.0.0.1", self.settings.PGADMIN_PORT, "PGADMIN_PORT"),
            environment=env,
            whole_group=True,
        )

    # ------------------------------------------------------------------------------- postgres
    def _as_pg_user(self, argv: list[str]) -> list[str]:
        if self.pg_os_user == getpass.getuser():
            return argv
        return ["runuser", "-u", self.pg_os_user, "--", *argv]

    def _init_postgres(self) -> None:
        bindir = find_postgres_bindir()
        if self.pg_os_user != getpass.getuser():
            try:
                entry = pwd.getpwnam(self.pg_os_user)
            except KeyError:
                raise StackError(
                    "running as root, PostgreSQL needs the 'postgres' system user, which the "
                    "Debian package creates: sudo apt-get install -y postgresql"
                ) from None
        self.pg_root.mkdir(parents=True, exist_ok=True)
        self.pg_run.mkdir(exist_ok=True)
        if self.pg_os_user != getpass.getuser():
            # The server's user must be able to reach its folders through ours.
            self.state_dir.chmod(0o755)
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
            self._as_pg_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.pg_data),
                    "-U",
                    PG_SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed for {self.pg_data}:\n{result.stderr.strip()}")

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

    # ----------------------------------------------------------------------------- supervisord
    def _write_supervisor_conf(self, names) -> None:
        sections = [
            f"[unix_http_server]\nfile={self.socket_path}\nchmod=0700\n",
            f"[supervisord]\nlogfile={self.log_dir / 'supervisord.log'}\npidfile={self.state_dir / 'supervisord.pid'}\n"
            f"childlogdir={self.log_dir}\ndirectory={self.state_dir}\n",
            "[rpcinterface:supervisor]\n"
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
            f"[supervisorctl]\nserverurl=unix://{self.socket_path}\n",
        ]
        for program in self._programs(names):
            command = program.command
            if program.environment:
                env_file = self.state_dir / f"{program.name}.env.json"
                write_private(env_file, json.dumps(program.environment))  # passwords travel here, not in the conf
                command = [sys.executable, "-m", "market_weather.stack.launch", str(env_file), *command]
            lines = [
                f"[program:{program.name}]",
                "command=" + shlex.join(command).replace("%", "%%"),
                f"stopsignal={program.stopsignal}",
                "stopwaitsecs=60",
                "startsecs=2",
                "autorestart=true",
                "redirect_stderr=true",
                f"stdout_logfile={self.log_dir / (program.name + '.log')}",
                "stdout_logfile_maxbytes=20MB",
            ]
            if program.user:
                lines.append(f"user={program.user}")
            if program.whole_group:
                lines += ["stopasgroup=true", "killasgroup=true"]
            sections.append("\n".join(lines) + "\n")
        self.conf_path.write_text("\n".join(sections))

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

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.status()
            if all(s.healthy for s in statuses):
                return
            if time.monotonic() > deadline:
                sick = "; ".join(f"{s.name}: {s.state} ({s.detail})" for s in statuses if not s.healthy)
                raise StackError(f"services not healthy after {timeout:.0f}s: {sick}; logs in {self.log_dir}")
            time.sleep(1)

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

    def _process_states(self) -> dict[str, str]:
        return {p["name"]: p["statename"] for p in self._supervisor().supervisor.getAllProcessInfo()}

    def _configured_programs(self) -> list[str]:
        return list(self._process_states())

    def _stopped_programs(self) -> list[str]:
        return [name for name, state in self._process_states().items() if state != "RUNNING"]

    # ---------------------------------------------------------------------------------- status
    def status(self) -> list[ServiceStatus]:
        if not self._supervisor_running():
            return [ServiceStatus(name, "STOPPED", False, "not started") for name in CORE + USER_INTERFACES]
        states = self._process_states()
        return [
            self._check(program.name, states.get(program.name, "UNKNOWN"), program.check)
            for program in self._programs([n for n in CORE + USER_INTERFACES if n in states])
        ]

    @staticmethod
    def _check(name: str, state: str, probe) -> ServiceStatus:
        if state != "RUNNING":
            return ServiceStatus(name, state, False, "process not running")
        try:
            return ServiceStatus(name, state, True, probe())
        except Exception as exc:  # any failure to answer means not healthy yet
            return ServiceStatus(name, state, False, f"{type(exc).__name__}: {exc}"[:200])

    def _postgres_ok(self) -> str:
        with psycopg.connect(
            host=str(self.pg_run),
            port=self.settings.POSTGRES_PORT,
            user=PG_SUPERUSER,
            dbname="postgres",
            connect_timeout=2,
        ) as conn:
            (version,) = conn.execute("SHOW server_version").fetchone() or ("unknown",)
        return f"PostgreSQL {version} on 127.0.0.1:{self.settings.POSTGRES_PORT}"

    def _lake_ok(self) -> str:
        with MongoClient(self.settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=1000) as client:
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
        deadline = time.monotonic() + 120
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
