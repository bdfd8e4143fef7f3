"""supervisord, which runs the local stack's programs: its configuration file, starting it, and a thin client
of its XML-RPC interface, served on a socket in the state folder for its owner alone.

A program's environment goes to a private file that `stack.launch` reads, not into the configuration:
passwords stay out of it, and supervisord's environment= syntax cannot carry every value.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import xmlrpc.client
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

from market_weather.files import write_private
from market_weather.stack.errors import StackError
from market_weather.stack.programs import Program


def header(state_dir: Path, log_dir: Path, socket_path: Path) -> list[str]:
    """supervisord's own sections: its socket, log, pid file and RPC interface."""
    return [
        f"[unix_http_server]\nfile={socket_path}\nchmod=0700\n",
        f"[supervisord]\nlogfile={log_dir / 'supervisord.log'}\npidfile={state_dir / 'supervisord.pid'}\n"
        f"childlogdir={log_dir}\ndirectory={state_dir}\n",
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{socket_path}\n",
    ]


def launched(command: list[str], env_file: Path) -> list[str]:
    """`command`, run with the environment in `env_file` by `stack.launch`."""
    return [sys.executable, "-m", "market_weather.stack.launch", str(env_file), *command]


def program_section(program: Program, command: list[str], log_dir: Path) -> str:
    lines = [
        f"[program:{program.name}]",
        "command=" + shlex.join(command).replace("%", "%%"),
        f"stopsignal={program.stopsignal}",
        "stopwaitsecs=60",
        "startsecs=2",
        f"autostart={str(program.autostart).lower()}",
        "autorestart=true",
        "redirect_stderr=true",
        f"stdout_logfile={log_dir / (program.name + '.log')}",
        "stdout_logfile_maxbytes=20MB",
    ]
    if program.user:
        lines.append(f"user={program.user}")
    if program.whole_group:
        lines += ["stopasgroup=true", "killasgroup=true"]
    return "\n".join(lines) + "\n"


def write_config(programs: list[Program], state_dir: Path, log_dir: Path, socket_path: Path, conf_path: Path) -> None:
    """The configuration file, and beside it each program's environment in a private file."""
    sections = header(state_dir, log_dir, socket_path)
    for program in programs:
        command = program.command
        if program.environment:
            env_file = state_dir / f"{program.name}.env.json"
            write_private(env_file, json.dumps(program.environment))
            command = launched(command, env_file)
        sections.append(program_section(program, command, log_dir))
    conf_path.write_text("\n".join(sections))


class Supervisor:
    """supervisord's XML-RPC interface on `socket_path`: a thin wrapper that takes no decisions."""

    def __init__(self, socket_path: Path):
        self.socket_path = socket_path

    def proxy(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(
            "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{self.socket_path}")
        )

    @property
    def rpc(self) -> Any:
        return self.proxy().supervisor

    def running(self) -> bool:
        if not self.socket_path.exists():
            return False
        try:
            return self.rpc.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def states(self) -> dict[str, str]:
        """Each configured program's state (RUNNING, STOPPED, FATAL...)."""
        return {p["name"]: p["statename"] for p in self.rpc.getAllProcessInfo()}

    def pid(self, name: str) -> int:
        """The program's pid, 0 when it does not run."""
        return self.rpc.getProcessInfo(name)["pid"]

    def add_new_programs(self) -> None:
        """Read the configuration again and add the programs it gained."""
        added, _, _ = self.rpc.reloadConfig()[0]
        for name in added:
            self.rpc.addProcessGroup(name)

    def start_program(self, name: str) -> None:
        """Start one program unless it runs or is starting (waits for nothing)."""
        rpc = self.rpc
        if rpc.getProcessInfo(name)["statename"] in ("STOPPED", "EXITED", "FATAL", "BACKOFF"):
            try:
                rpc.startProcess(name, False)
            except xmlrpc.client.Fault as exc:
                if "ALREADY_STARTED" not in exc.faultString:
                    raise

    def stop_programs(self, names: list[str], timeout: float = 90) -> None:
        """Stop the programs, and wait up to `timeout` seconds while any is still stopping."""
        rpc = self.rpc
        for name in names:
            try:
                rpc.stopProcess(name, False)
            except xmlrpc.client.Fault as exc:
                if "NOT_RUNNING" not in exc.faultString:
                    raise
        deadline = time.monotonic() + timeout
        while any(self.states()[name] == "STOPPING" for name in names) and time.monotonic() < deadline:
            time.sleep(0.2)

    def shutdown(self) -> None:
        self.rpc.shutdown()


def start(conf_path: Path, supervisor: Supervisor, log_dir: Path) -> None:
    """Start supervisord on `conf_path` (it daemonizes) and wait until it answers on its socket."""
    supervisord = Path(sys.executable).parent / "supervisord"
    result = subprocess.run([str(supervisord), "-c", str(conf_path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"supervisord did not start: {result.stderr.strip() or result.stdout.strip()}")
    deadline = time.monotonic() + 15
    while not supervisor.running():
        if time.monotonic() > deadline:
            raise StackError(f"supervisord did not answer; see {log_dir / 'supervisord.log'}")
        time.sleep(0.2)
