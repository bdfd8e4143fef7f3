# Airflow 3 with the platform: the official image, Java for spark-submit, the project installed with
# the same constraints file the local mode uses, and the Spark job's connector jars.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
ARG PYSPARK_VERSION=4.0.1

FROM maven:3.9.9-eclipse-temurin-17 AS jars
COPY spark/jars/pom.xml /build/pom.xml
RUN mvn --batch-mode --quiet -f /build/pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=/jars

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG PYSPARK_VERSION
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow
# The airflow-auth volume mounts here: created by the airflow user so the volume starts out its own.
RUN mkdir -p /opt/airflow/auth
WORKDIR /opt/platform
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md ./
COPY --chown=airflow:0 market_weather ./market_weather
COPY --chown=airflow:0 dags ./dags
RUN pip install --no-cache-dir --constraint constraints.txt "pyspark==${PYSPARK_VERSION}" -e ".[airflow]"
COPY --from=jars --chown=airflow:0 /jars /opt/platform/jars
ENV SPARK_JARS_DIR=/opt/platform/jars \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/platform/dags
