"""The job's Spark settings, one dict for the session builder and the submission alike.

No pyspark here: DAG files read it at parse time.
"""

from __future__ import annotations

from pathlib import Path

APP_NAME = "lake_to_warehouse"
JOB_FILE = Path(__file__).with_name("lake_to_warehouse.py")
LOG4J2_CONFIG = Path(__file__).with_name("log4j2.properties")

# The MongoDB connector keeps a client to the lake this long after its last use (its default is 5 s): the minute's
# loads share one client rather than each connecting again, and an idle client is closed rarely. (Closing one
# holds the connector's client cache, so a lake that stops answering then would stall every read until the
# close gives up.)
LAKE_CLIENT_KEEP_ALIVE = "-Dmongodb.keep_alive_ms=300000"

SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.extraJavaOptions": (
        f"-Duser.timezone=UTC {LAKE_CLIENT_KEEP_ALIVE} -Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()}"
    ),
    "spark.executor.extraJavaOptions": f"-Duser.timezone=UTC {LAKE_CLIENT_KEEP_ALIVE}",
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.showConsoleProgress": "false",
    # The raw schemas are wide: print their plans whole rather than warn that they were cut.
    "spark.sql.debug.maxToStringFields": "200",
    # Every record's reason is one expression over dozens of checks: inferring filter constraints from
    # it makes the optimizer's work grow combinatorially (a heap exhausted on planning alone). The job
    # has no joins, where inferred filters would pay.
    "spark.sql.constraintPropagation.enabled": "false",
    # The job's queries run interpreted: compiling them to code (whole-stage code generation) took about a second
    # of a minute's load of a few documents and saved nothing on a window of a million.
    "spark.sql.codegen.wholeStage": "false",
}


def application_name(*started_by: str) -> str:
    """How Spark's UIs name an in-process run of the job (`make load` without the server): the job, then what
    started it (the run's id). ASCII alone, as a JVM under a C locale reads its arguments."""
    return " / ".join((APP_NAME, *started_by))


def job_jars(jars_dir: Path) -> list[str]:
    """The connector jars the job needs (read from disk, no service)."""
    return [str(p) for p in sorted(Path(jars_dir).glob("*.jar"))]
