"""The Spark Connect server the loads run on, and a load's session on it.

The server is Spark's own (`SparkConnectServer`, in the connect jar among pyspark's), started by spark-submit as
one long-lived application on the standalone cluster, with the job's settings and connector jars: a load no
longer starts a JVM and an application of its own, it opens a session on this one. Its driver holds the
sessions; its executors, on the cluster's worker, run the JVM alone (the job evaluates no Python there).

`python -m market_weather.job.connect serve --master URL` runs it in the foreground (`make run`'s `spark_connect`
program, compose's `spark-connect` service); `python -m market_weather.job.connect check` says whether it answers.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from market_weather.job.spark_conf import SPARK_CONF, job_jars
from market_weather.settings import SparkSettings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
# Its application's name in the master's UI: one application, every load a session of it.
SERVER_NAME = "spark_connect"
# The driver holds the sessions' plans and streams results (the rejects, a few at a time) to the job; the
# executors take what the worker offers (SPARK_WORKER_MEMORY). Sized for two cores and compose's limits.
DRIVER_MEMORY = "768m"
# A call the server does not answer is tried again this often, waiting 0.5, 1 and 2 s: a server that went
# away fails the load in seconds, and Airflow's retry starts it again on the server as it comes back.
CALL_RETRIES = 3


class SparkServerError(RuntimeError):
    """The Spark Connect server does not answer, went away during a load, or the load outran its time."""


class SparkServerGone(SparkServerError):
    """The server does not answer (any more): nothing more can be asked of it in this session."""


def url(settings: SparkSettings) -> str:
    return f"sc://{settings.SPARK_CONNECT_HOST}:{settings.SPARK_CONNECT_PORT}"


def where(settings: SparkSettings) -> str:
    """The server in a message: its URL and the setting that chooses its port."""
    return f"the Spark Connect server at {url(settings)} (SPARK_CONNECT_PORT={settings.SPARK_CONNECT_PORT})"


def answers(settings: SparkSettings, timeout: float = 0.5) -> bool:
    """Whether something accepts connections on the server's address (a TCP handshake, no session)."""
    try:
        with socket.create_connection((settings.SPARK_CONNECT_HOST, settings.SPARK_CONNECT_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def spark_submit() -> Path:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparkServerError("pyspark is not installed in this virtualenv: run make setup")
    return Path(spec.origin).parent / "bin" / "spark-submit"


def server_command(settings: SparkSettings, master: str, bind: str) -> list[str]:
    """spark-submit's command line for the server on `master`, listening on `bind`:SPARK_CONNECT_PORT."""
    conf: dict[str, str] = {
        **SPARK_CONF,
        "spark.connect.grpc.binding.address": bind,
        "spark.connect.grpc.binding.port": str(settings.SPARK_CONNECT_PORT),
        # Another port is an error, not a silent move: the loads look for this one.
        "spark.connect.grpc.port.maxRetries": "0",
        "spark.ui.port": str(settings.SPARK_CONNECT_UI_PORT),
        "spark.port.maxRetries": "0",
        "spark.executor.memory": settings.SPARK_WORKER_MEMORY,
    }
    if settings.SPARK_DRIVER_HOST:
        # The executors, on another machine, call the driver back by this name.
        conf |= {"spark.driver.host": settings.SPARK_DRIVER_HOST, "spark.driver.bindAddress": "0.0.0.0"}
    argv = [str(spark_submit()), "--class", SERVER_CLASS, "--name", SERVER_NAME, "--master", master]
    argv += ["--driver-memory", DRIVER_MEMORY]
    jars = job_jars(settings.SPARK_JARS_DIR)
    if jars:
        argv += ["--jars", ",".join(jars)]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return argv


def remote_session(settings: SparkSettings) -> SparkSession:
    """A new session of its own on the server (never one shared with another load). Spark's builder puts this
    process in Spark Connect's mode for good (pyspark's functions build remote columns from then on): a
    process holds remote sessions or an in-process Spark, not both."""
    from pyspark.sql import SparkSession

    session = SparkSession.builder.remote(url(settings)).create()
    prepare(session, settings)
    return session


def is_remote(session: Any) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


def prepare(session: Any, settings: SparkSettings) -> None:
    """Make a remote session fail fast on a server that does not answer, and check that it answers.

    Spark's client would otherwise try a call again for minutes; a server that restarted has lost the
    session anyway, so waiting longer cannot save the load.
    """
    from pyspark.sql.connect.client.retries import DefaultPolicy

    policy = DefaultPolicy(max_retries=CALL_RETRIES, initial_backoff=500, max_backoff=2000, backoff_multiplier=2.0)
    session.client.set_retry_policies([policy])
    try:
        session.version  # noqa: B018 (one call to the server)
    except Exception as exc:
        if unavailable(exc):
            raise SparkServerGone(
                f"{where(settings)} does not answer: start it with `make run` (or compose's spark-connect service), "
                "or run the load in-process with SPARK_LOAD_SESSION=local"
            ) from None
        raise


def unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the server could not be reached (or stopped answering), as against a failed query."""
    import grpc
    from pyspark.errors import RetriesExceeded

    if isinstance(exc, (RetriesExceeded, SparkServerGone)):
        return True
    if isinstance(exc, grpc.RpcError):
        return exc.code() == grpc.StatusCode.UNAVAILABLE
    text = str(exc)
    return any(mark in text for mark in ("StatusCode.UNAVAILABLE", "INVALID_HANDLE.SESSION_NOT_FOUND"))


def check(settings: SparkSettings) -> str:
    """The server answers a session: its Spark version, or SparkServerError."""
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    if not answers(settings, timeout=2):
        raise SparkServerError(f"{where(settings)} refuses connections")
    # Spark Connect's own builder, which leaves the calling process's mode alone (the launcher, a test).
    session = RemoteSession.builder.remote(url(settings)).create()
    prepare(session, settings)
    try:
        version = session.version
    finally:
        session.stop()
    return f"Spark Connect {url(settings)} (Spark {version}), UI on http://127.0.0.1:{settings.SPARK_CONNECT_UI_PORT}"


def start_warm_up() -> None:
    """Start `job.warm_up` in a process that nothing waits for, before this one becomes the server: a fork whose own
    fork runs it, and which ends at once, so that the server's JVM, taking this process's place, has no child of
    ours to reap (in compose, the image's init, dumb-init, reaps the warm-up when it ends)."""
    server = os.getpid()  # the JVM's, once it takes this process's place
    child = os.fork()
    if child == 0:
        try:
            if os.fork() == 0:
                warm_up = ["-m", "market_weather.job.warm_up", "--server-pid", str(server)]
                os.execv(sys.executable, [sys.executable, *warm_up])
        finally:
            os._exit(0)
    os.waitpid(child, 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Spark Connect server the warehouse loads run on.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server in the foreground (spark-submit, replaced by it)")
    serve.add_argument("--master", required=True, help="the standalone master, spark://host:port")
    serve.add_argument("--bind", default="127.0.0.1", help="the address it listens on (0.0.0.0 in a container)")
    commands.add_parser("check", help="exit 0 when the server answers a session")
    args = parser.parse_args(argv)
    settings = get_settings(SparkSettings)
    if args.command == "serve":
        command = server_command(settings, args.master, args.bind)
        start_warm_up()
        os.execv(command[0], command)  # signals reach the JVM itself (spark-submit execs java)
    try:
        print(check(settings))
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
