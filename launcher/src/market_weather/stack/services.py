"""The local stack, supervised by supervisord: PostgreSQL and the SecantusDB lake (`start`), plus the
rest of compose's topology (`start(full=True)`, what `make run` does): a Spark master and worker, Airflow's
api-server, scheduler, dag-processor and triggerer, Mongo Express, pgAdmin and the dashboard.

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
import urllib.request
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg import sql
from pymongo import MongoClient
from pymongo.uri_parser import parse_uri
from supervisor.xmlrpc import SupervisorTransport

from market_weather.files import write_private
from market_weather.lake import ensure_lake_indexes
from market_weather.settings import DashboardSettings, Settings, load_settings
from market_weather.stack import airflow_local, spark_cluster
from market_weather.stack.errors import StackError
from market_weather.warehouse.migrate import migrate

PG_SUPERUSER = "postgres"
CORE = ("postgres", "lake")
# Started once the core answers and the databases are set up, as compose's depends_on orders them;
# Airflow's other components once its api-server answers (their tasks talk to it).
PLATFORM = ("spark_master", "spark_worker", *airflow_local.COMPONENTS, "mongo_express", "pgadmin", "dashboard")
AFTER_API_SERVER = tuple(name for name in airflow_local.COMPONENTS if name != "airflow_apiserver")
# The compose service each program stands for (a test holds the two files to it).
COMPOSE_SERVICES = {
    "postgres": "postgres",
    "lake": "mongo",
    "spark_master": "spark-master",
    "spark_worker": "spark-worker",
    "airflow_apiserver": "airflow-apiserver",
    "airflow_scheduler": "airflow-scheduler",
    "airflow_dag_processor": "airflow-dag-processor",
    "airflow_triggerer": "airflow-triggerer",
    "mongo_express": "mongo-express",
    "pgadmin": "pgadmin",
    "dashboard": "dashboard",
}

__all__ = [
    "LocalStack",
    "ServiceStatus",
    "StackError",
    "bench_stack",
    "find_postgres_bindir",
    "free_port",
    "isolated_settings",
]


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
    ports: list[tuple[str, int, str]]  # host, port, and the setting that chooses it
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    stopsignal: str = "TERM"
    whole_group: bool = True  # stop and kill its children with it (a task's spark-submit, say)
    autostart: bool = True  # False: started once the databases it needs are set up


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
            "DASHBOARD_PORT": free_port(),
            "SPARK_MASTER_PORT": free_port(),
            "SPARK_MASTER_UI_PORT": free_port(),
            "SPARK_WORKER_UI_PORT": free_port(),
            "PRODUCER_SOURCE": "simulated",
            "COINCAP_API_KEY": "",
            "OPENWEATHER_API_KEY": "",
            **overrides,
        }
    )


def bench_stack(settings: Settings, **overrides: Any) -> LocalStack:
    """The stack `make bench` runs beside the main one: in LOCAL_STATE_DIR/bench, on ports free when it
    starts. Stopping it needs only that folder (supervisord answers on a socket there), not its ports."""
    return LocalStack(isolated_settings(Path(settings.LOCAL_STATE_DIR) / "bench", **overrides))


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
    DATA = ("postgres", "lake", "logs", "airflow", "spark", "pgadmin", "bench")

    def clean(self) -> list[Path]:
        """Stop everything (a bench's stack in the state folder too), then delete the warehouse, the lake,
        logs and UI state; what was removed."""
        self.stop()
        bench_stack(self.settings).stop()
        removed = []
        for name in self.DATA:
            path = self.state_dir / name
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
        return removed

    # ----------------------------------------------------------------------------------- start
    def start(self, full: bool = False) -> bool:
        """Start the services (the whole platform when full); False if all were running already.

        The core first; then, as compose's airflow-init does, the databases and the warehouse schema;
        then the programs that need them."""
        wanted = CORE + (PLATFORM if full else ())
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
            for name in CORE:
                self._start_program(name)
        else:
            self._prepare(wanted, preflight=wanted)
            self._write_supervisor_conf(wanted)
            self._start_supervisor()
        self.wait_healthy(CORE)
        self._bootstrap_databases()
        migrate(self.settings)  # what compose's airflow-init runs too
        with MongoClient(self.settings.MONGO_URI, document_class=dict, serverSelectionTimeoutMS=5000) as client:
            ensure_lake_indexes(client[self.settings.MONGO_DB])
        if full:
            airflow_local.prepare(self.settings, self.airflow_home)
            for name in PLATFORM:
                if name not in AFTER_API_SERVER:
                    self._start_program(name)
            self.wait_healthy(("airflow_apiserver",))
            for name in AFTER_API_SERVER:
                self._start_program(name)
        self.wait_healthy()
        return True

    def _start_program(self, name: str) -> None:
        """Start one program unless it runs or is starting (waits for nothing)."""
        rpc = self._supervisor().supervisor
        if rpc.getProcessInfo(name)["statename"] in ("STOPPED", "EXITED", "FATAL", "BACKOFF"):
            try:
                rpc.startProcess(name, False)
            except xmlrpc.client.Fault as exc:
                if "ALREADY_STARTED" not in exc.faultString:
                    raise

    def _programs(self, names) -> list[Program]:
        return [
            self._airflow_program(name) if name in airflow_local.COMPONENTS else getattr(self, f"_{name}_program")()
            for name in names
        ]

    def _prepare(self, wanted, preflight) -> None:
        """Check ports, then install and initialise what the wanted programs need."""
        for program in self._programs(preflight):
            for host, port, setting in program.ports:
                if not _port_is_free(host, port):
                    raise StackError(
                        f"port {port} on {host} is already in use by another program; stop that "
                        f"program or choose another port with {setting} in .env"
                    )
        for path in (self.state_dir, self.log_dir, self.lake_dir, self.log_dir / "spark"):
            path.mkdir(parents=True, exist_ok=True)
        self._init_postgres()
        if "mongo_express" in wanted:
            from market_weather.stack import mongo_express

            mongo_express.ensure_installed(self.state_dir / "mongo-express")
        if "pgadmin" in wanted:
            from market_weather.stack import pgadmin

            pgadmin.ensure_installed(self._pgadmin_venv)
            pgadmin.prepare(self.settings, self._pgadmin_venv, self.state_dir)
        if "dashboard" in wanted:
            from market_weather.dashboard import assets

            assets.ensure_installed()

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
                # Its socket for its owner alone: other local users come through TCP with a password.
                "-c",
                "unix_socket_permissions=0700",
            ],
            self._postgres_ok,
            [("127.0.0.1", self.settings.POSTGRES_PORT, "POSTGRES_PORT")],
            user=self.pg_os_user if self.pg_os_user != getpass.getuser() else None,
            stopsignal="INT",  # PostgreSQL's fast shutdown
            whole_group=False,  # the postmaster stops its own backends
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
            [(self.lake_host, self.lake_port, "MONGO_URI")],
        )

    def _spark_master_program(self) -> Program:
        s = self.settings
        return Program(
            "spark_master",
            spark_cluster.master_command(s),
            lambda: spark_cluster.master_check(s),
            [
                ("127.0.0.1", s.SPARK_MASTER_PORT, "SPARK_MASTER_PORT"),
                ("127.0.0.1", s.SPARK_MASTER_UI_PORT, "SPARK_MASTER_UI_PORT"),
            ],
            environment=spark_cluster.environment(self.state_dir),
            autostart=False,
        )

    def _spark_worker_program(self) -> Program:
        s = self.settings
        return Program(
            "spark_worker",
            spark_cluster.worker_command(s, self.state_dir / "spark" / "work"),
            lambda: spark_cluster.worker_check(s),
            [("127.0.0.1", s.SPARK_WORKER_UI_PORT, "SPARK_WORKER_UI_PORT")],
            environment=spark_cluster.environment(self.state_dir),
            autostart=False,
        )

    def _airflow_program(self, name: str) -> Program:
        ui = [("127.0.0.1", self.settings.AIRFLOW_UI_PORT, "AIRFLOW_UI_PORT")]
        return Program(
            name,
            airflow_local.command(name),
            lambda: airflow_local.check(self.settings, name),
            ui if name == "airflow_apiserver" else [],
            environment=airflow_local.environment(self.settings, self.airflow_home),
            autostart=False,
        )

    def _mongo_express_program(self) -> Program:
        from market_weather.stack import mongo_express

        app = self.state_dir / "mongo-express" / "node_modules" / "mongo-express" / "app.js"
        argv, env = mongo_express.command(self.settings, app)
        return Program(
            "mongo_express",
            argv,
            lambda: mongo_express.check(self.settings),
            [("127.0.0.1", self.settings.MONGO_EXPRESS_PORT, "MONGO_EXPRESS_PORT")],
            environment=env,
            autostart=False,
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
            [("127.0.0.1", self.settings.PGADMIN_PORT, "PGADMIN_PORT")],
            environment=env,
            autostart=False,
        )

    def _dashboard_program(self) -> Program:
        s = self.settings
        environment = {
            name: value for name, value in s.as_environment().items() if name in DashboardSettings.model_fields
        }
        return Program(
            "dashboard",
            [sys.executable, "-m", "market_weather.dashboard"],
            lambda: _dashboard_check(s),
            [(s.DASHBOARD_HOST, s.DASHBOARD_PORT, "DASHBOARD_PORT")],
            environment=environment,
            autostart=False,
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
        self.pg_run.chmod(0o700)  # the socket's folder, for the server's user alone
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

    def _bootstrap_databases(self) -> None:
        """The warehouse's role and database (as the postgres image makes them from POSTGRES_*), and
        Airflow's (as compose's docker/postgres/initdb.sh does)."""
        s = self.settings
        owners = [
            (s.POSTGRES_USER, s.POSTGRES_PASSWORD.get_secret_value(), s.POSTGRES_DB),
            (s.AIRFLOW_DB_USER, s.AIRFLOW_DB_PASSWORD.get_secret_value(), airflow_local.AIRFLOW_DB),
        ]
        with psycopg.connect(
            host=str(self.pg_run), port=s.POSTGRES_PORT, user=PG_SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            for role, password, database in owners:
                role_exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
                verb = sql.SQL("ALTER" if role_exists else "CREATE")
                # The warehouse's owner creates the read-only role and login in its migrations, as the
                # postgres image's POSTGRES_USER (a superuser) does in compose.
                rights = sql.SQL(" CREATEROLE" if database == s.POSTGRES_DB else "")
                conn.execute(
                    sql.SQL("{} ROLE {} LOGIN{} PASSWORD {}").format(
                        verb, sql.Identifier(role), rights, sql.Literal(password)
                    )
                )
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
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
                f"autostart={str(program.autostart).lower()}",
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

    def wait_healthy(self, names: tuple[str, ...] | None = None, timeout: float = 240) -> None:
        """Until every service (those named) answers its check."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = [s for s in self.status() if names is None or s.name in names]
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
            return [ServiceStatus(name, "STOPPED", False, "not started") for name in CORE + PLATFORM]
        states = self._process_states()
        return [
            self._check(program.name, states.get(program.name, "UNKNOWN"), program.check)
            for program in self._programs([n for n in CORE + PLATFORM if n in states])
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
        """Stop every service and supervisord itself, then whatever they started that outlived them;
        False when nothing was running."""
        if not self._supervisor_running():
            return False
        pid_file = self.state_dir / "supervisord.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        descendants = _descendants(pid) if pid else []
        # Airflow runs each task in a session of its own (a load's spark-submit and driver, say), out of
        # reach of its program's process group. Tasks first, then Airflow, while the databases answer.
        airflow = [name for name in airflow_local.COMPONENTS if name in self._process_states()]
        _terminate([task for name in airflow for task in self._own_sessions(name)])
        self._stop_programs(airflow)
        self._supervisor().supervisor.shutdown()
        deadline = time.monotonic() + 120
        while pid and psutil.pid_exists(pid):
            if time.monotonic() > deadline:
                raise StackError(f"supervisord (pid {pid}) did not stop; see {self.log_dir}")
            time.sleep(0.2)
        _terminate(descendants)
        return True

    def _own_sessions(self, name: str) -> list[psutil.Process]:
        """Descendants of a program that run in sessions of their own."""
        pid = self._supervisor().supervisor.getProcessInfo(name)["pid"]
        if not pid:
            return []
        session = _session(psutil.Process(pid))
        return [p for p in _descendants(pid) if _session(p) not in (None, session)]

    def _stop_programs(self, names: list[str], timeout: float = 90) -> None:
        rpc = self._supervisor().supervisor
        for name in names:
            try:
                rpc.stopProcess(name, False)
            except xmlrpc.client.Fault as exc:
                if "NOT_RUNNING" not in exc.faultString:
                    raise
        deadline = time.monotonic() + timeout
        while any(self._process_states()[name] == "STOPPING" for name in names) and time.monotonic() < deadline:
            time.sleep(0.2)


def _dashboard_check(settings: Settings) -> str:
    """The dashboard answers, and reaches the warehouse as its read-only login and the lake."""
    url = f"http://127.0.0.1:{settings.DASHBOARD_PORT}"
    with urllib.request.urlopen(f"{url}/api/health", timeout=3) as response:
        login = json.load(response)["warehouse_login"]
    return f"dashboard on {url}/ (reads the warehouse as {login})"


def _session(process: psutil.Process) -> int | None:
    try:
        return os.getsid(process.pid)
    except ProcessLookupError:
        return None


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _terminate(processes: list[psutil.Process], grace: float = 10) -> None:
    """TERM what still runs of `processes` (each checked to be the very process, not a reused pid),
    then KILL what is left after `grace` seconds."""
    alive = []
    for process in processes:
        try:
            if process.is_running():
                process.terminate()
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    _, left = psutil.wait_procs(alive, timeout=grace)
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(left, timeout=5)
