"""The local stack, supervised by supervisord: PostgreSQL and the SecantusDB lake (`start`), plus the
rest of compose's topology (`start(full=True)`, what `make run` does): a Spark master and worker, the Spark
Connect server the loads run on, Airflow's api-server, scheduler, dag-processor and triggerer, Mongo Express,
pgAdmin and the dashboard.

Everything lives under LOCAL_STATE_DIR (git-ignored): data, logs, sockets and the generated
supervisord configuration. Starting is idempotent: what exists is reused, what runs is left running.
`LocalStack` orders the steps; what each step does lives in its own module (`programs`, `supervisord`,
`postgres_cluster`, `lake_server`, `health`, `processes`, `ports`).
"""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path
from typing import Any

from market_weather.settings import Settings
from market_weather.stack import (
    airflow_local,
    health,
    lake_server,
    mongo_express,
    pgadmin,
    ports,
    postgres_cluster,
    processes,
    programs,
    supervisord,
)
from market_weather.stack.errors import StackError
from market_weather.stack.health import ServiceStatus
from market_weather.stack.programs import AFTER_API_SERVER, CORE, PLATFORM, SPARK, Program
from market_weather.warehouse.migrate import migrate

__all__ = ["LocalStack", "bench_stack"]


def bench_stack(settings: Settings, **overrides: Any) -> LocalStack:
    """The stack `make bench` runs beside the main one: in LOCAL_STATE_DIR/bench, on ports free when it
    starts. Stopping it needs only that folder (supervisord answers on a socket there), not its ports."""
    return LocalStack(ports.isolated_settings(Path(settings.LOCAL_STATE_DIR) / "bench", **overrides))


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
        self.lake_host, self.lake_port = lake_server.address(settings)
        self.pg_os_user = postgres_cluster.server_user()
        self.supervisor = supervisord.Supervisor(self.socket_path)

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
    def start(self, full: bool = False, spark: bool = False) -> bool:
        """Start the services (the whole platform when full, the Spark cluster and its Connect server too when
        spark); False if all were running already.

        The core first; then, as compose's airflow-init does, the databases and the warehouse schema;
        then the programs that need them."""
        extra = PLATFORM if full else SPARK if spark else ()
        wanted = CORE + extra
        if self.supervisor.running():
            states = self.supervisor.states()
            missing = [name for name in wanted if name not in states]
            if not missing and all(state == "RUNNING" for state in states.values()):
                return False
            if missing:
                self._prepare(wanted, preflight=missing)
                self._write_config(wanted)
                self.supervisor.add_new_programs()
            for name in CORE:
                self.supervisor.start_program(name)
        else:
            self._prepare(wanted, preflight=wanted)
            self._write_config(wanted)
            supervisord.start(self.conf_path, self.supervisor, self.log_dir)
        self.wait_healthy(CORE)
        postgres_cluster.bootstrap_databases(self.settings, self.pg_run)
        migrate(self.settings)  # what compose's airflow-init runs too
        lake_server.ensure_indexes(self.settings)
        if full:
            airflow_local.prepare(self.settings, self.airflow_home)
        for name in extra:
            if name not in AFTER_API_SERVER:
                self.supervisor.start_program(name)
        if full:
            self.wait_healthy(("airflow_apiserver",))
            for name in AFTER_API_SERVER:
                self.supervisor.start_program(name)
        self.wait_healthy()
        return True

    def _prepare(self, wanted, preflight) -> None:
        """Check ports, then install and initialise what the wanted programs need."""
        ports.refuse_taken(listener for program in self._programs(preflight) for listener in program.ports)
        for path in (self.state_dir, self.log_dir, self.lake_dir, self.log_dir / "spark"):
            path.mkdir(parents=True, exist_ok=True)
        postgres_cluster.init_cluster(self.state_dir, self.pg_root, self.pg_data, self.pg_run, self.pg_os_user)
        if "lake" in preflight:  # about to start: its logins as the settings hold them now
            lake_server.provision(self.settings, lake_server.chosen(self.settings), self.lake_dir)
        if "mongo_express" in wanted:
            mongo_express.ensure_installed(self._mongo_express_dir)
        if "pgadmin" in wanted:
            pgadmin.ensure_installed(self._pgadmin_venv)
            pgadmin.prepare(self.settings, self._pgadmin_venv, self.state_dir)
        if "dashboard" in wanted or "intake" in wanted:  # the intake serves the dashboard's copy of Swagger UI
            from market_weather.dashboard import assets

            assets.ensure_installed()
        if "intake" in wanted or "airflow_triggerer" in wanted:
            for folder in (self.settings.INBOX_DIR, self.settings.FILES_DIR):
                folder.mkdir(parents=True, exist_ok=True)

    def _write_config(self, names) -> None:
        supervisord.write_config(self._programs(names), self.state_dir, self.log_dir, self.socket_path, self.conf_path)

    # ------------------------------------------------------------------------------- programs
    @property
    def _mongo_express_dir(self) -> Path:
        return self.state_dir / "mongo-express"

    @property
    def _pgadmin_venv(self) -> Path:
        return self.state_dir / "pgadmin-venv"

    def _programs(self, names) -> list[Program]:
        return [self._program(name) for name in names]

    def _program(self, name: str) -> Program:
        s = self.settings
        if name in airflow_local.COMPONENTS:
            return programs.airflow_program(s, name, self.airflow_home)
        if name == "postgres":
            os_user = self.pg_os_user if self.pg_os_user != getpass.getuser() else None
            return programs.postgres_program(s, self.pg_data, self.pg_run, os_user)
        if name == "lake":
            return programs.lake_program(s, self.lake_dir)
        if name == "spark_master":
            return programs.spark_master_program(s, self.state_dir)
        if name == "spark_worker":
            return programs.spark_worker_program(s, self.state_dir)
        if name == "spark_connect":
            return programs.spark_connect_program(s, self.state_dir)
        if name == "mongo_express":
            return programs.mongo_express_program(s, self._mongo_express_dir)
        if name == "pgadmin":
            return programs.pgadmin_program(s, self._pgadmin_venv, self.state_dir)
        if name == "dashboard":
            return programs.dashboard_program(s)
        if name == "intake":
            return programs.intake_program(s)
        raise ValueError(f"no program {name!r} in the local stack")

    def _supervisor(self):
        """supervisord's XML-RPC proxy (`.supervisor.getAllProcessInfo()` and the like)."""
        return self.supervisor.proxy()

    # ---------------------------------------------------------------------------------- status
    def status(self) -> list[ServiceStatus]:
        if not self.supervisor.running():
            return health.not_started(CORE + PLATFORM)
        states = self.supervisor.states()
        return [
            health.probe(program.name, states.get(program.name, "UNKNOWN"), program.check)
            for program in self._programs([n for n in CORE + PLATFORM if n in states])
        ]

    def wait_healthy(self, names: tuple[str, ...] | None = None, timeout: float = 240) -> None:
        """Until every service (those named) answers its check."""
        health.wait(lambda: [s for s in self.status() if names is None or s.name in names], timeout, self.log_dir)

    # ------------------------------------------------------------------------------------ stop
    def stop(self) -> bool:
        """Stop every service and supervisord itself, then whatever they started that outlived them;
        False when nothing was running."""
        if not self.supervisor.running():
            return False
        pid_file = self.state_dir / "supervisord.pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        started = processes.descendants(pid) if pid else []
        # Airflow runs each task in a session of its own (a load and its Spark Connect client, say), out of
        # reach of its program's process group. Tasks first, then Airflow, while the databases answer.
        airflow = [name for name in airflow_local.COMPONENTS if name in self.supervisor.states()]
        processes.terminate([task for name in airflow for task in processes.in_own_sessions(self.supervisor.pid(name))])
        self.supervisor.stop_programs(airflow)
        self.supervisor.shutdown()
        if pid and not processes.wait_ended(pid, timeout=120):
            raise StackError(f"supervisord (pid {pid}) did not stop; see {self.log_dir}")
        processes.terminate(started)
        return True
