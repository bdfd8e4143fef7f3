"""`python -m market_weather.stack run|start|status|stop|clean|demo`: the local stack and one full pipeline cycle."""

from __future__ import annotations

import sys

import typer

from market_weather.producer.errors import LakeUnreachable
from market_weather.settings import SettingsError, get_settings
from market_weather.stack import lake_server
from market_weather.stack.errors import StackError
from market_weather.stack.services import LocalStack, bench_stack

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _stack() -> LocalStack:
    return LocalStack(get_settings())


def _stop_all(main: LocalStack) -> list[str]:
    """Stop the bench stack, then the main one; a line for each that was running."""
    stacks = (("bench stack", bench_stack(main.settings)), ("main stack", main))
    return [f"stopped the {name} in {stack.state_dir}" for name, stack in stacks if stack.stop()]


def _start(full: bool) -> LocalStack:
    stack = _stack()
    if not stack.start(full=full):
        typer.echo("already running; nothing started twice (`make stop` stops it)")
    status()
    typer.echo(f"logs: {stack.log_dir}")
    return stack


@app.command()
def run() -> None:
    """The whole platform: services, Airflow with the DAGs unpaused, Mongo Express, pgAdmin, the dashboard, the file
    intake."""
    stack = _start(full=True)
    s = stack.settings
    uis = (
        ("Airflow", s.AIRFLOW_UI_PORT, s.AIRFLOW_ADMIN_USER, "AIRFLOW_ADMIN_PASSWORD"),
        ("Mongo Express", s.MONGO_EXPRESS_PORT, s.MONGO_EXPRESS_USER, "MONGO_EXPRESS_PASSWORD"),
        ("pgAdmin", s.PGADMIN_PORT, s.PGADMIN_EMAIL, "PGADMIN_PASSWORD"),
        ("File intake", s.INTAKE_PORT, s.INTAKE_USER, "INTAKE_PASSWORD"),
    )
    typer.echo("\nopen:")
    for name, port, login, password in uis:
        typer.echo(f"  {name:<14} http://127.0.0.1:{port}   login {login}, password {password} in .env")
    typer.echo(
        f"  Dashboard      http://127.0.0.1:{s.DASHBOARD_PORT}   markets, weather and air, pipeline health (no login)\n"
        f"  Spark master   http://127.0.0.1:{s.SPARK_MASTER_UI_PORT}   the worker, the loads' server (no login)\n"
        f"  Spark Connect  http://127.0.0.1:{s.SPARK_CONNECT_UI_PORT}   each load's jobs, a session each (no login)\n"
        f"  PostgreSQL     127.0.0.1:{s.POSTGRES_PORT} database {s.POSTGRES_DB}, user {s.POSTGRES_USER}\n"
        f"  lake           {lake_server.where(s)}\n"
        f"  drop folder    {s.INBOX_DIR}   files taken in within seconds (archive/ and rejected/ beside them)\n"
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
    """Stop every service the project started, those of a running bench too."""
    typer.echo("\n".join(_stop_all(_stack())) or "nothing was running")


@app.command()
def clean() -> None:
    """Stop every service (a bench's too), then delete all local data: warehouse, lake, logs, UI and bench state."""
    stack = _stack()
    for line in _stop_all(stack):
        typer.echo(line)
    removed = stack.clean()
    typer.echo("\n".join(f"removed {path}" for path in removed) or "no local data to remove")


@app.command()
def demo() -> None:
    """Start the services, run one full cycle (simulated or live sources) and print a summary."""
    from market_weather.stack.demo import run_cycle

    stack = _stack()
    stack.start()
    run_cycle(stack.settings)


def main() -> None:
    try:
        app()
    except (SettingsError, StackError, LakeUnreachable) as exc:  # the demo's producer steps name the lake
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
