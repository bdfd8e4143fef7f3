"""`python -m stack run|start|status|stop|clean|demo`: the local stack and one full pipeline cycle."""

from __future__ import annotations

import sys

import typer

from common.settings import SettingsError, get_settings
from stack.services import LocalStack, StackError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _stack() -> LocalStack:
    return LocalStack(get_settings())


def _start(full: bool) -> LocalStack:
    stack = _stack()
    if not stack.start(full=full):
        typer.echo("already running; nothing started twice (`make stop` stops it)")
    status()
    typer.echo(f"logs: {stack.log_dir}")
    return stack


@app.command()
def run() -> None:
    """The whole platform: services, Airflow with the DAGs unpaused, Mongo Express, pgAdmin."""
    stack = _start(full=True)
    s = stack.settings
    typer.echo(
        "\nopen:\n"
        f"  Airflow        http://127.0.0.1:{s.AIRFLOW_UI_PORT}   login {s.AIRFLOW_ADMIN_USER}, password AIRFLOW_ADMIN_PASSWORD in .env\n"
        f"  Mongo Express  http://127.0.0.1:{s.MONGO_EXPRESS_PORT}   login {s.MONGO_EXPRESS_USER}, password MONGO_EXPRESS_PASSWORD in .env\n"
        f"  pgAdmin        http://127.0.0.1:{s.PGADMIN_PORT}   login {s.PGADMIN_EMAIL}, password PGADMIN_PASSWORD in .env\n"
        f"  PostgreSQL     127.0.0.1:{s.POSTGRES_PORT} database {s.POSTGRES_DB}, user {s.POSTGRES_USER}\n"
        f"  lake           {s.MONGO_URI} database {s.MONGO_DB}\n"
        "data flows on the DAG schedules (simulated unless API keys are set)."
    )


@app.command()
def start() -> None:
    """Set up what is missing, start PostgreSQL and the lake, wait until both are healthy."""
    _start(full=False)


@app.command()
def status() -> None:
    """Show each service and whether it answers."""
    statuses = _stack().status()
    for s in statuses:
        mark = "ok  " if s.healthy else "DOWN"
        typer.echo(f"{mark} {s.name:<14} {s.state:<9} {s.detail}")
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def stop() -> None:
    """Stop every service the project started."""
    typer.echo("stopped" if _stack().stop() else "nothing was running")


@app.command()
def clean() -> None:
    """Stop every service, then delete all local data: warehouse, lake, logs, Airflow and pgAdmin state."""
    removed = _stack().clean()
    typer.echo("\n".join(f"removed {path}" for path in removed) or "no local data to remove")


@app.command()
def demo() -> None:
    """Start the services, run one full cycle (simulated or live sources) and print a summary."""
    from stack.demo import run_cycle

    stack = _stack()
    stack.start()
    run_cycle(stack.settings)


def main() -> None:
    try:
        app()
    except (SettingsError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
