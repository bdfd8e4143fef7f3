# Airflow 3 with the platform: the official image, Java for spark-submit, the project installed with
# the same constraints file the local mode uses, the Spark job's connector jars and the dashboard's
# browser libraries. The dashboard and the file intake run from this image too.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
ARG PYSPARK_VERSION=4.0.1
ARG NODE_VERSION=22.23.2

FROM maven:3.9.9-eclipse-temurin-17 AS jars
COPY spark/jars/pom.xml /build/pom.xml
RUN mvn --batch-mode --quiet -f /build/pom.xml dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory=/jars

# The dashboard's npm packages, from the committed package-lock.json, as `make setup` installs them.
FROM node:${NODE_VERSION}-bookworm-slim AS assets
WORKDIR /assets
COPY dashboard/src/market_weather/dashboard/assets/package.json dashboard/src/market_weather/dashboard/assets/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG PYSPARK_VERSION
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow
# The airflow-auth and files volumes mount here: created by the airflow user so the volumes start out its own.
RUN mkdir -p /opt/airflow/auth /opt/platform/files/inbox /opt/platform/files/store
WORKDIR /opt/platform
COPY --chown=airflow:0 pyproject.toml constraints.txt README.md ./
# Each component's folder, as in the checkout: pyproject.toml names their src/ roots of the one namespace.
COPY --chown=airflow:0 contract ./contract
COPY --chown=airflow:0 producer ./producer
COPY --chown=airflow:0 spark ./spark
COPY --chown=airflow:0 postgres ./postgres
COPY --chown=airflow:0 dashboard ./dashboard
COPY --chown=airflow:0 orchestration ./orchestration
COPY --chown=airflow:0 launcher ./launcher
COPY --chown=airflow:0 intake ./intake
COPY --chown=airflow:0 dags ./dags
RUN pip install --no-cache-dir --constraint constraints.txt "pyspark==${PYSPARK_VERSION}" -e ".[airflow,dashboard,intake]"
COPY --from=jars --chown=airflow:0 /jars /opt/platform/jars
# .dockerignore leaves out any node_modules of the build context: these are the build stage's.
COPY --from=assets --chown=airflow:0 /assets/node_modules /opt/platform/dashboard/src/market_weather/dashboard/assets/node_modules
ENV SPARK_JARS_DIR=/opt/platform/jars \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/platform/dags
