"""The ports of a local stack: a port taken by another program is named with the setting that chooses it,
and a throw-away stack (tests, the bench) runs beside any other on ports free when it starts."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from market_weather.settings import LakeSettings, Settings, load_settings
from market_weather.stack.errors import StackError


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def refuse_taken(listeners: Iterable[tuple[str, int, str]]) -> None:
    """A StackError for the first (host, port, setting) that another program listens on."""
    for host, port, setting in listeners:
        if not port_is_free(host, port):
            raise StackError(
                f"port {port} on {host} is already in use by another program; stop that "
                f"program or choose another port with {setting} in .env"
            )


def free_port() -> int:
    """A loopback port nothing listens on now, chosen by the OS: for throw-away stacks (tests, bench)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def on_port(uri: str, port: int) -> str:
    """A single-host MongoDB URI on 127.0.0.1 and `port`, its login and options kept."""
    parts = urlsplit(uri)
    userinfo, _, _ = parts.netloc.rpartition("@")
    return urlunsplit((parts.scheme, f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}", *parts[2:]))


def isolated_settings(state_dir: Path, **overrides: Any) -> Settings:
    """Settings of a throw-away stack that runs beside any other (tests, the bench): its own state folder,
    free ports, and simulated sources whatever keys the environment holds."""
    return load_settings(
        **{
            "LOCAL_STATE_DIR": state_dir,
            "POSTGRES_PORT": free_port(),
            "MONGO_URI": on_port(load_settings(LakeSettings).MONGO_URI, free_port()),
            "AIRFLOW_UI_PORT": free_port(),
            "MONGO_EXPRESS_PORT": free_port(),
            "PGADMIN_PORT": free_port(),
            "DASHBOARD_PORT": free_port(),
            "INTAKE_PORT": free_port(),
            "INBOX_DIR": state_dir / "inbox",
            "FILES_DIR": state_dir / "files",
            "SPARK_MASTER_PORT": free_port(),
            "SPARK_MASTER_UI_PORT": free_port(),
            "SPARK_WORKER_UI_PORT": free_port(),
            "SPARK_CONNECT_PORT": free_port(),
            "SPARK_CONNECT_UI_PORT": free_port(),
            "PRODUCER_SOURCE": "simulated",
            "COINCAP_API_KEY": "",
            "OPENWEATHER_API_KEY": "",
            **overrides,
        }
    )
