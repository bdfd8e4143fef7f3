#!/bin/sh
# Runs once, on a new volume: a database of its own for Airflow's metadata. The warehouse schema comes
# from the migrations, which airflow-init applies (as the local stack does at every start).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v user="$AIRFLOW_DB_USER" -v password="$AIRFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE airflow OWNER :"user";
SQL
