"""Whether the stack's services answer: one status line per service from its own check, and waiting
until every one asked for is healthy."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from market_weather.stack.errors import StackError


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str
    healthy: bool
    detail: str


def not_started(names: Iterable[str]) -> list[ServiceStatus]:
    return [ServiceStatus(name, "STOPPED", False, "not started") for name in names]


def probe(name: str, state: str, check: Callable[[], str]) -> ServiceStatus:
    """A running program is healthy when its check answers; the check's line, or why not."""
    if state != "RUNNING":
        return ServiceStatus(name, state, False, "process not running")
    try:
        return ServiceStatus(name, state, True, check())
    except Exception as exc:  # any failure to answer means not healthy yet
        return ServiceStatus(name, state, False, f"{type(exc).__name__}: {exc}"[:200])


def wait(statuses: Callable[[], list[ServiceStatus]], timeout: float, log_dir: Path) -> None:
    """Until every status `statuses` gives is healthy; after `timeout` seconds, a StackError naming the others."""
    deadline = time.monotonic() + timeout
    while True:
        current = statuses()
        if all(s.healthy for s in current):
            return
        if time.monotonic() > deadline:
            sick = "; ".join(f"{s.name}: {s.state} ({s.detail})" for s in current if not s.healthy)
            raise StackError(f"services not healthy after {timeout:.0f}s: {sick}; logs in {log_dir}")
        time.sleep(1)
