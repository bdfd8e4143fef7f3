"""No Python runs on the Spark executors: what the job evaluates there is JVM code only.

In docker compose the Spark workers (apache/spark image) run another Python than the driver (the
Airflow image), so anything the job would evaluate in Python on an executor fails there: a Python or
pandas UDF, mapInPandas / mapInArrow, applyInPandas, a Python data source, an RDD operation, even
createDataFrame from driver-side rows. A local cluster shares the driver's Python and hides it. The
job keeps its executors free of Python, and these tests fail when it gains some:

- the optimized logical and the physical plans of every frame `to_warehouse` makes, from raw frames
  typed like the lake's, hold no Python operator;
- the lake side: the frames `read_collection` returns are scans of the Mongo connector, and the job's
  logical plans over them hold no Python either. Only the logical plans: the physical plan of a lake
  scan asks the lake server for its partitions, and unit tests have none;
- with executors that cannot start Python at all, the outputs still compute, and the rejects still
  stream to the driver as dead-lettering reads them;
- the job's sources use none of the APIs that run Python on executors, those that do not show in
  a DataFrame plan (RDD operations, createDataFrame, ...) above all.

Each detector is shown to catch what it looks for, so a pass means something. The staging (loader)
streams each table to the job as Arrow batches, made in the JVM, and needs the warehouse: it is not run
here.
"""

from __future__ import annotations

import ast
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.datasource import DataSource, DataSourceReader

from market_weather.contract import LOADED_TABLES, RAW_COLLECTIONS
from market_weather.job import lake_reader, transforms
from market_weather.settings import PROJECT_ROOT, load_settings
from tests.unit.test_transforms import raw_frames

JOB_SOURCES = PROJECT_ROOT / "spark" / "src" / "market_weather" / "job"

# What Python evaluation is called in Spark 4.0.1's plans (its spark-sql and spark-catalyst jars):
# - operators, in the logical and the physical plan alike: BatchEvalPython (Python UDFs),
#   ArrowEvalPython (pandas and Arrow UDFs), BatchEvalPythonUDTF and ArrowEvalPythonUDTF (Python
#   table functions), MapInPandas, MapInArrow, FlatMapGroupsInPandas, FlatMapGroupsInArrow,
#   FlatMapCoGroupsInPandas, FlatMapCoGroupsInArrow (the applyIn* of grouped and cogrouped data),
#   FlatMapGroupsInPandasWithState and TransformWithStateInPandas (streaming);
# - physical only: AggregateInPandas and WindowInPandas. In the logical plan a grouped-aggregate or
#   window pandas UDF is an expression of a plain Aggregate or Window, printed under the UDF's own
#   name, so the logical plan's expressions are matched by class: PythonUDF, PythonUDAF, PythonUDTF;
# - a Python data source's scan, printed `BatchScan <name>[...] (Python)`, physical only too.
# One pattern covers them all, and names Spark may add in the same families. A test below checks
# it against every Python operator of the Spark that runs, so an upgrade cannot slip one past it.
PYTHON_EVALUATION = re.compile(r"\w*(?:Python|InPandas|InArrow)\w*")

# Operators in Spark's Python package that run no Python, each with why.
JVM_ONLY_OPERATORS = {
    "AttachDistributedSequence": "pandas-on-Spark's default index, numbered by RDD.zipWithIndex in the JVM",
}

# A lake address that is never contacted: planning a lake frame's logical plan asks the server nothing.
NO_LAKE = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1000"
MONGO_TABLE = "com.mongodb.spark.sql.connector.MongoTable"


def python_evaluation(df: DataFrame, physical: bool = True) -> list[str]:
    """Where `df` would evaluate Python on the executors: the plan lines and expression classes found.

    Looks at the optimized logical plan, and at the physical plan unless `physical` is false (a plan
    over a lake scan, which only the lake server can plan physically).
    """
    execution = df._jdf.queryExecution()
    optimized = execution.optimizedPlan()
    plans = {"optimized plan": optimized}
    if physical:
        plans["physical plan"] = execution.executedPlan()
    found = [
        f"{kind}: {line.strip()[:160]}"
        for kind, plan in plans.items()
        for line in plan.toString().splitlines()
        if PYTHON_EVALUATION.search(line)
    ]
    expressions = set(re.findall(r'"class":"([\w.$]+)"', optimized.toJSON()))
    found += [
        f"optimized plan expression: {name}"
        for name in sorted(expressions)
        if PYTHON_EVALUATION.search(name.rsplit(".", 1)[-1])
    ]
    return found


def leaf_tables(df: DataFrame) -> list[str]:
    """The class of what each leaf of `df`'s optimized plan reads: the table of a V2 scan, else the leaf's own."""
    leaves = df._jdf.queryExecution().optimizedPlan().collectLeaves()
    found = []
    for i in range(leaves.size()):
        leaf = leaves.apply(i)
        kind = leaf.getClass().getSimpleName()
        if kind == "DataSourceV2ScanRelation":
            leaf = leaf.relation().table()
        elif kind == "DataSourceV2Relation":
            leaf = leaf.table()
        found.append(leaf.getClass().getName())
    return found


def outputs(out: transforms.Outputs) -> dict[str, DataFrame]:
    frames = {**out.tables, "rejected": out.rejected, "tally": out.tally}
    assert set(frames) == {t.name for t in LOADED_TABLES} | {"rejected", "tally"}  # every output, none forgotten
    return frames


def fail_on(problems: dict[str, list[str]]) -> None:
    """Fail, naming each frame and what was found in its plans, if anything was."""
    if any(problems.values()):
        pytest.fail(
            "Python would run on the executors, whose Python is not the driver's:\n"
            + "\n".join(f"{name}:\n    " + "\n    ".join(found) for name, found in problems.items() if found),
            pytrace=False,
        )


def test_the_warehouse_frames_plan_no_python(spark):
    out = transforms.to_warehouse(raw_frames(spark))
    problems = {name: python_evaluation(df) for name, df in outputs(out).items()}
    fail_on(problems)


def test_the_lake_frames_are_connector_scans_and_plan_no_python(jars_dir, spark):
    settings = load_settings(POSTGRES_PASSWORD="unused", MONGO_URI=NO_LAKE)
    hi = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    lake = {name: lake_reader.read_collection(spark, settings, name, None, hi) for name in RAW_COLLECTIONS}

    assert {name: leaf_tables(df) for name, df in lake.items()} == {name: [MONGO_TABLE] for name in RAW_COLLECTIONS}
    frames = {**lake, **outputs(transforms.to_warehouse(lake))}
    problems = {name: python_evaluation(df, physical=False) for name, df in frames.items()}
    fail_on(problems)


@contextmanager
def executors_without_python(spark: SparkSession) -> Iterator[None]:
    """While the block runs, a Python worker the executors start cannot start: its program does not exist.

    Python workers run the program the SparkContext names when the Python function they evaluate is
    handed to the JVM, so what the block builds and runs gets this one.
    """
    context = spark.sparkContext
    saved = context.pythonExec
    context.pythonExec = "/nonexistent/python-of-the-executors"
    try:
        yield
    finally:
        context.pythonExec = saved


def test_the_warehouse_frames_compute_on_executors_without_python(spark):
    # Built with Python (createDataFrame runs it on the executors), then held by the JVM.
    lake = {name: df.localCheckpoint() for name, df in raw_frames(spark).items()}
    started = None
    try:
        with executors_without_python(spark):
            out = transforms.to_warehouse(lake)
            rows_read, rows_rejected = out.counts()
            rows = {name: len(df.collect()) for name, df in outputs(out).items()}
            rejected = [(r.collection, r._id) for r in out.rejected.toLocalIterator()]  # as dead-lettering does
    except Exception as exc:
        started = re.search(r"Cannot run program[^\n]*", str(exc))
        if started is None:
            raise
    if started:
        pytest.fail(f"Computing the job's outputs started Python on an executor: {started.group()}", pytrace=False)
    assert (rows_read, rows_rejected) == (5, 1)
    assert rows == {
        "assets": 1,
        "asset_prices": 2,
        "locations": 1,
        "weather_observations": 1,
        "air_quality": 1,
        "rejected": 1,
        "tally": 1,
    }
    assert rejected == [("coincap_assets", "b")]


def test_executors_without_python_fail_a_python_udf(spark):
    """The stand-in for the workers' Python does deny it, so the test above would catch a UDF."""
    with executors_without_python(spark):
        udf = F.udf(lambda s: s, "long")
        with pytest.raises(Exception, match="Cannot run program"):
            spark.range(1).select(udf("id")).collect()


def pandas_udf(f: Callable, return_type: str) -> Any:
    """A pandas UDF of `f`, typed by its hints (pyspark's stubs know only the older functionType forms)."""
    return F.pandas_udf(f, return_type)  # type: ignore[call-overload]


def same_strings(s: pd.Series) -> pd.Series:
    return s


def mean_rank(rank: pd.Series) -> float:
    return rank.mean()


def same_frames(frames: Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    yield from frames


def same_batches(batches: Iterable[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    yield from batches


def python_source(spark: SparkSession, assets: DataFrame) -> DataFrame:
    """The assets joined with a Python data source, whose reader runs in Python workers on the executors.

    Its classes are local so that they travel by value: the Python that unpickles them may lack this
    module's imports.
    """

    class OneRowReader(DataSourceReader):
        def read(self, partition):
            yield ("bitcoin",)

    class OneRowSource(DataSource):
        @classmethod
        def name(cls) -> str:
            return "one_row_python_source"

        def schema(self) -> str:
            return "asset_id string"

        def reader(self, schema) -> DataSourceReader:
            return OneRowReader()

    spark.dataSource.register(OneRowSource)
    return assets.join(spark.read.format(OneRowSource.name()).load(), "asset_id")


# How the job could come to evaluate Python, applied to one of its outputs (the assets table); what
# the detector then reports in the physical plan; and in the logical plan, which is all the lake side
# has (None: nothing, hence the check that the lake frames are connector scans).
PYTHON_EVALUATIONS: dict[str, tuple[Callable[[SparkSession, DataFrame], DataFrame], str, str | None]] = {
    "Python UDF": (
        lambda _, df: df.withColumn("x", F.udf(lambda s: s, "string")("symbol")),
        "BatchEvalPython",
        "BatchEvalPython",
    ),
    "pandas UDF": (
        lambda _, df: df.withColumn("x", pandas_udf(same_strings, "string")("symbol")),
        "ArrowEvalPython",
        "ArrowEvalPython",
    ),
    "Python UDF in a filter": (
        lambda _, df: df.where(F.udf(lambda s: s is None, "boolean")("symbol")),
        "BatchEvalPython",
        "BatchEvalPython",
    ),
    "grouped aggregate pandas UDF": (
        lambda _, df: df.groupBy("symbol").agg(pandas_udf(mean_rank, "double")("rank")),
        "AggregateInPandas",
        "PythonUDAF",
    ),
    "window pandas UDF": (
        lambda _, df: df.withColumn("x", pandas_udf(mean_rank, "double")("rank").over(Window.partitionBy("symbol"))),
        "WindowInPandas",
        "PythonUDAF",
    ),
    "mapInPandas": (lambda _, df: df.mapInPandas(same_frames, df.schema), "MapInPandas", "MapInPandas"),
    "mapInArrow": (lambda _, df: df.mapInArrow(same_batches, df.schema), "MapInArrow", "MapInArrow"),
    "applyInPandas": (
        lambda _, df: df.groupBy("symbol").applyInPandas(lambda pdf: pdf, df.schema),
        "FlatMapGroupsInPandas",
        "FlatMapGroupsInPandas",
    ),
    "Python data source": (python_source, "(Python)", None),
}


@pytest.mark.parametrize("how", PYTHON_EVALUATIONS)
def test_the_plan_detector_reports_python_evaluation(spark, how):
    """Proof the detector works: each way of running Python on executors is reported, by its operator."""
    build, physical, logical = PYTHON_EVALUATIONS[how]
    df = build(spark, transforms.to_warehouse(raw_frames(spark)).tables["assets"])

    found = python_evaluation(df)
    assert any(physical in line for line in found), found
    found_logically = python_evaluation(df, physical=False)
    if logical:
        assert any(logical in line for line in found_logically), found_logically
    else:
        assert not any(physical in line for line in found_logically), found_logically


def test_the_detector_knows_every_python_operator_of_the_installed_spark(spark):
    """Every physical operator in Spark's Python package (where all of them live) matches the pattern."""
    jvm = spark._jvm
    spark_plan = jvm.java.lang.Class.forName("org.apache.spark.sql.execution.SparkPlan")
    jar = Path(spark_plan.getProtectionDomain().getCodeSource().getLocation().toURI().getPath())
    with zipfile.ZipFile(jar) as classes:
        names = [
            name.removesuffix(".class").replace("/", ".")
            for name in classes.namelist()
            if name.startswith("org/apache/spark/sql/execution/python/") and name.endswith(".class") and "$" not in name
        ]
    operators = set()
    for name in names:
        cls = jvm.java.lang.Class.forName(name, False, spark_plan.getClassLoader())
        concrete = not cls.isInterface() and not jvm.java.lang.reflect.Modifier.isAbstract(cls.getModifiers())
        if concrete and spark_plan.isAssignableFrom(cls):
            operators.add(str(cls.getSimpleName()).removesuffix("Exec"))

    assert {"BatchEvalPython", "ArrowEvalPython", "MapInPandas", "AggregateInPandas"} <= operators, operators
    unmatched = {op for op in operators if not PYTHON_EVALUATION.fullmatch(op)} - set(JVM_ONLY_OPERATORS)
    assert not unmatched, f"Python operators of {jar.name} the detector would miss: {sorted(unmatched)}"


# Names whose use in the job's sources runs Python on the executors, with why. Most do not show in a
# DataFrame plan at all (RDDs); the others do, but are named here too for a clearer message.
EXECUTOR_PYTHON_APIS = {
    "rdd": "DataFrame.rdd: its RDD operations run Python on the executors",
    "RDD": "RDD operations run Python on the executors",
    "sparkContext": "the RDD API's entry point: its RDD operations run Python on the executors",
    "SparkContext": "the RDD API's entry point: its RDD operations run Python on the executors",
    "parallelize": "an RDD of driver data, read by Python workers on the executors",
    "createDataFrame": "driver-side rows are parallelized and decoded by Python workers on the executors",
    "foreach": "runs a Python function on the executors",
    "foreachPartition": "runs a Python function on the executors",
    "mapPartitions": "runs a Python function on the executors",
    "mapPartitionsWithIndex": "runs a Python function on the executors",
    "udf": "a Python UDF runs on the executors",
    "pandas_udf": "a pandas UDF runs on the executors",
    "udtf": "a Python table function runs on the executors",
    "UserDefinedFunction": "a Python UDF runs on the executors",
    "mapInPandas": "runs a Python function on the executors",
    "mapInArrow": "runs a Python function on the executors",
    "applyInPandas": "runs a Python function on the executors",
    "applyInPandasWithState": "runs a Python function on the executors",
    "applyInArrow": "runs a Python function on the executors",
    "transformWithStateInPandas": "runs a Python function on the executors",
    "dataSource": "a Python data source reads or writes in Python workers on the executors",
}
EXECUTOR_PYTHON_MODULES = {
    "pyspark.rdd": "RDD operations run Python on the executors",
    "pyspark.pandas": "pandas API on Spark evaluates Python functions on the executors",
    "pyspark.sql.pandas": "pandas UDFs and functions run on the executors",
    "pyspark.sql.udf": "a Python UDF runs on the executors",
    "pyspark.sql.udtf": "a Python table function runs on the executors",
    "pyspark.sql.datasource": "a Python data source reads or writes in Python workers on the executors",
}


def executor_python_uses(source: str) -> list[tuple[int, str, str]]:
    """(line, name, why) for each use of those names or modules in `source`, in line order.

    Reads the code, not its comments and strings: prose may name them.
    """
    uses = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        modules: list[str] = []
        if isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [alias.name for alias in node.names]
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        line = getattr(node, "lineno", 0)
        uses |= {(line, name, EXECUTOR_PYTHON_APIS[name]) for name in names if name in EXECUTOR_PYTHON_APIS}
        uses |= {
            (line, banned, reason)
            for module in modules
            for banned, reason in EXECUTOR_PYTHON_MODULES.items()
            if module == banned or module.startswith(banned + ".")
        }
    return sorted(uses)


def test_the_job_sources_use_no_api_that_runs_python_on_executors():
    sources = sorted(JOB_SOURCES.glob("*.py"))
    assert {"transforms.py", "lake_reader.py", "loader.py"} <= {path.name for path in sources}
    found = []
    for path in sources:
        code = path.read_text()
        lines = code.splitlines()
        found += [
            f"{path.relative_to(PROJECT_ROOT)}:{line}: {lines[line - 1].strip()}  <- {name}: {why}"
            for line, name, why in executor_python_uses(code)
        ]
    if found:
        pytest.fail(
            "The job would run Python on the executors, whose Python is not the driver's "
            "(keep to DataFrame expressions and JVM data sources):\n" + "\n".join(found),
            pytrace=False,
        )


def test_the_source_scan_reports_each_use_and_ignores_prose():
    """Proof the scan works: code is reported by line and name, comments and strings are not."""
    source = '''"""Mentions .rdd, foreachPartition and udf in prose only."""
from pyspark.sql.functions import pandas_udf, udf
from pyspark.sql import functions as F
import pyspark.pandas as ps


def f(df, spark):
    # df.rdd.map(...) in a comment
    n = df.rdd.mapPartitions(lambda rows: rows).count()
    df.foreachPartition(print)
    df.foreach(print)
    spark.createDataFrame([(1,)], "x int")
    spark.sparkContext.parallelize([1])
    return df.select(F.udf(lambda x: x)("x"), F.col("note").contains("udf")), n
'''
    uses = executor_python_uses(source)
    assert {(line, name) for line, name, _ in uses} == {
        (2, "pandas_udf"),
        (2, "udf"),
        (4, "pyspark.pandas"),
        (9, "rdd"),
        (9, "mapPartitions"),
        (10, "foreachPartition"),
        (11, "foreach"),
        (12, "createDataFrame"),
        (13, "sparkContext"),
        (13, "parallelize"),
        (14, "udf"),
    }, uses
