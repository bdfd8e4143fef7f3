"""`python -m stack start|status|stop|demo`: the local services and one full pipeline cycle."""

from __future__ import annotations

import sys

import typer

from common.settings import SettingsError, get_settings
from stack.services import LocalStack, StackError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def _stack() -> LocalStack:
    return LocalStack(get_settings())


@app.command()
def start() -> None:
    """Set up what is missing, start PostgreSQL and the lake, wait until both are healthy."""
    stack = _stack()
    stack.start()
    status()
    typer.echo(f"logs: {stack.log_dir}")


@app.command()
def status() -> None:
    """Show each service and whether it answers."""
    statuses = _stack().status()
    for s in statuses:
        mark = "ok  " if s.healthy else "DOWN"
        typer.echo(f"{mark} {s.name:<10} {s.state:<9} {s.detail}")
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def stop() -> None:
    """Stop every service the project started."""
    if _stack().stop():
        typer.echo("stopped")
    else:
        typer.echo("nothing was running")


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
