"""pgAdmin 4 for the local stack: PyPI's pgadmin4, pinned by pgadmin-constraints.txt, in a virtualenv
of its own (it pins exact versions, psycopg among them, that differ from the project's).

It runs in server mode, behind a login, with the warehouse registered in the "Servers" group and
its password in a pgpass file, so opening the server asks for nothing. pgAdmin reads the settings
from a config_local.py that it finds on PYTHONPATH: they stay with its data under <state>/pgadmin and
the virtualenv stays as pip left it. Accounts and servers are made with pgAdmin's own CLI (setup.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import requests

from market_weather.files import write_private
from market_weather.settings import Settings
from market_weather.stack.errors import StackError

PGADMIN_VERSION = "9.18"
CONSTRAINTS = Path(__file__).resolve().parent / "pgadmin-constraints.txt"
# pgAdmin's own default group: the warehouse is the one server there, with no second, empty group beside it.
SERVER_GROUP = "Servers"
SERVER_NAME = "warehouse"
MIN_PASSWORD_LENGTH = 6  # what pgAdmin's CLI accepts

# pgAdmin's CLI takes passwords only as arguments, which any local user can read with `ps`. This
# launcher puts the password in from the environment instead, where `setup-db` reads it by itself.
_PASSWORD = "{password}"
_CLI = (
    "import os, sys; from pgadmin4.setup import main; "
    f"sys.argv = [os.environ['PGADMIN_SETUP_PASSWORD'] if arg == {_PASSWORD!r} else arg for arg in sys.argv]; "
    "main()"
)


def ensure_installed(venv_dir: Path) -> Path:
    """pgadmin4 with its pinned dependencies in venv_dir, once per pin set; return its python."""
    python = venv_dir / "bin" / "python"
    stamp = venv_dir / ".installed"
    requirement = f"pgadmin4=={PGADMIN_VERSION}"
    wanted = f"{requirement}\n{CONSTRAINTS.read_text()}"
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    if not (venv_dir / "bin" / "pip").exists():  # missing, or left half-made by a failed attempt
        if not shutil.which("python3.11"):
            raise StackError("pgAdmin needs Python 3.11: sudo apt-get install -y python3.11 python3.11-venv")
        result = subprocess.run(["python3.11", "-m", "venv", str(venv_dir)], capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(
                f"could not create pgAdmin's virtualenv {venv_dir} (sudo apt-get install -y python3.11-venv "
                f"provides what it needs):\n{(result.stdout + result.stderr).strip()[-2000:]}"
            )
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--constraint", str(CONSTRAINTS), requirement],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise StackError(
            f"pip could not install {requirement} into {venv_dir}; check access to the package index, or "
            f"delete {venv_dir} to start afresh:\n{result.stderr.strip()[-2000:]}"
        )
    stamp.write_text(wanted)
    return python


def prepare(settings: Settings, venv_dir: Path, state_dir: Path) -> None:
    """Configuration, database, the admin account and the warehouse server; idempotent.

    The account takes PGADMIN_PASSWORD again whenever it changes in .env (a password changed in
    pgAdmin's own page lasts until then). pgAdmin's CLI cannot edit a server, so a change of the
    warehouse's settings replaces this user's servers with the warehouse alone.
    """
    email = settings.PGADMIN_EMAIL
    password = settings.PGADMIN_PASSWORD.get_secret_value()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StackError(
            f"PGADMIN_PASSWORD must have at least {MIN_PASSWORD_LENGTH} characters (pgAdmin's minimum): "
            "set a longer one in .env"
        )
    home = state_dir / "pgadmin"
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)  # pgAdmin's database, sessions and the pgpass file
    data_dir = home / "data"
    write_private(home / "conf" / "config_local.py", _config_local(settings, data_dir))
    # In server mode pgAdmin reads a PassFile relative to the user's storage folder.
    write_private(data_dir / "storage" / _storage_folder(email) / "pgpass", _pgpass_line(settings))
    servers = home / "servers.json"
    servers.write_text(_servers_json(settings))

    env = {**os.environ, **_environment(home), "PGADMIN_SETUP_EMAIL": email, "PGADMIN_SETUP_PASSWORD": password}
    fresh = not (data_dir / "pgadmin4.db").exists()
    # Makes the database, and its first user from PGADMIN_SETUP_*; or brings an older one up to date.
    _cli(venv_dir, env, "setup-db")

    admin_stamp, admin_key = data_dir / "admin.sha256", _digest(email, password)
    if not fresh and _read(admin_stamp) != admin_key:
        # add-user answers "User already exists." unless PGADMIN_EMAIL is new; update-user sets the
        # password either way and, with --json, answers JSON only when it found the user.
        added = _cli(venv_dir, env, "add-user", email, _PASSWORD, "--admin")
        updated = _cli(venv_dir, env, "update-user", email, "--password", _PASSWORD, "--admin", "--json")
        try:
            json.loads(updated)
        except ValueError:
            raise StackError(
                f"pgAdmin could not set up its user {email} (PGADMIN_EMAIL):\n{(added + updated).strip()}"
            ) from None
    write_private(admin_stamp, admin_key)

    servers_stamp, servers_key = data_dir / "servers.sha256", _digest(email, servers.read_text())
    if fresh or _read(servers_stamp) != servers_key:
        _cli(venv_dir, env, "load-servers", str(servers), "--user", email, "--replace")
    write_private(servers_stamp, servers_key)


def command(settings: Settings, venv_dir: Path, state_dir: Path) -> tuple[list[str], dict[str, str]]:
    """pgAdmin's web server in the foreground; prepare() wrote its address, 127.0.0.1:PGADMIN_PORT."""
    return [str(venv_dir / "bin" / "pgadmin4")], _environment(state_dir / "pgadmin")


def check(settings: Settings) -> str:
    url = f"http://127.0.0.1:{settings.PGADMIN_PORT}"
    response = requests.get(f"{url}/misc/ping", timeout=3)
    response.raise_for_status()
    if response.text != "PING":
        raise RuntimeError(f"{url} answers, but not as pgAdmin")
    return f"pgAdmin {PGADMIN_VERSION} on {url}"


def _environment(home: Path) -> dict[str, str]:
    return {"PYTHONPATH": str(home / "conf")}  # where pgAdmin finds config_local.py


def _config_local(settings: Settings, data_dir: Path) -> str:
    values = {
        "SERVER_MODE": True,  # a login page, and pgAdmin's own users
        "DATA_DIR": str(data_dir),
        "LOG_FILE": str(data_dir / "pgadmin4.log"),
        "SQLITE_PATH": str(data_dir / "pgadmin4.db"),
        "SESSION_DB_PATH": str(data_dir / "sessions"),
        "STORAGE_DIR": str(data_dir / "storage"),
        "DEFAULT_SERVER": "127.0.0.1",
        "DEFAULT_SERVER_PORT": settings.PGADMIN_PORT,
        # Nothing leaves the machine: no version check, no Gravatar pictures, no AI assistant.
        "UPGRADE_CHECK_ENABLED": False,
        "SHOW_GRAVATAR_IMAGE": False,
        "LLM_ENABLED": False,
        # Only the warehouse: no servers added from local PostgreSQL installations at login.
        "AUTO_DISCOVER_SERVERS": False,
        # Wrong passwords would lock the only account, which pgAdmin's CLI cannot unlock; the
        # server listens on loopback only.
        "MAX_LOGIN_ATTEMPTS": 0,
    }
    lines = ["# Written by market_weather.stack.pgadmin from the platform's settings; edits are overwritten."]
    lines += [f"{name} = {value!r}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def _servers_json(settings: Settings) -> str:
    server = {
        "Name": SERVER_NAME,
        "Group": SERVER_GROUP,
        "Host": settings.POSTGRES_HOST,
        "Port": settings.POSTGRES_PORT,
        "MaintenanceDB": settings.POSTGRES_DB,
        "Username": settings.POSTGRES_USER,
        "ConnectionParameters": {"sslmode": "prefer", "connect_timeout": 10, "passfile": "/pgpass"},
    }
    return json.dumps({"Servers": {"1": server}}, indent=2) + "\n"


def _pgpass_line(settings: Settings) -> str:
    """host:port:database:user:password for any database of the warehouse's server."""

    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace(":", "\\:")

    host, user = escape(settings.POSTGRES_HOST), escape(settings.POSTGRES_USER)
    return f"{host}:{settings.POSTGRES_PORT}:*:{user}:{escape(settings.POSTGRES_PASSWORD.get_secret_value())}\n"


def _storage_folder(email: str) -> str:
    """The folder pgAdmin gives a user under STORAGE_DIR (preprocess_username in pgadmin/utils/paths.py)."""
    name = email if email and not email[0].isdigit() else "pga_user_" + email
    return name.replace("@", "_").replace("/", "slash").replace("\\", "slash")


def _cli(venv_dir: Path, env: dict[str, str], *args: str) -> str:
    """Run one command of pgAdmin's setup.py; return what it printed.

    Some commands report failure only in what they print; the callers look at it where it matters.
    """
    python = venv_dir / "bin" / "python"
    # -P: the working directory (the project, likely) must not shadow pgAdmin's modules.
    result = subprocess.run([str(python), "-P", "-c", _CLI, *args], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise StackError(f"pgAdmin's `setup.py {args[0]}` failed:\n{(result.stdout + result.stderr).strip()[-2000:]}")
    return result.stdout


def _digest(*parts: str) -> str:
    """What prepare() applied last, without keeping the password itself."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None
