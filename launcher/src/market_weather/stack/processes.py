"""Ending what the stack started and what outlived it: process trees, the sessions Airflow gives its tasks,
and TERM then KILL for each process, checked to be the very process and not a reused pid."""

from __future__ import annotations

import os
import time

import psutil


def session(process: psutil.Process) -> int | None:
    try:
        return os.getsid(process.pid)
    except ProcessLookupError:
        return None


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def in_own_sessions(pid: int) -> list[psutil.Process]:
    """Descendants of `pid` that run in sessions of their own, out of reach of its process group; none
    when `pid` is 0 (a program that does not run)."""
    if not pid:
        return []
    own = session(psutil.Process(pid))
    return [p for p in descendants(pid) if session(p) not in (None, own)]


def wait_ended(pid: int, timeout: float) -> bool:
    """Whether `pid` ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def terminate(processes: list[psutil.Process], grace: float = 10) -> None:
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
