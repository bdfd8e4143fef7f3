#!/bin/sh
# Runs once, on a new volume: the warehouse from postgres/init/*.sql (the very files the local mode
# applies, in the same order), then a database of its own for Airflow's metadata.
set -eu
for file in /platform/warehouse-init/*.sql; do
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$file"
done
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v user="$AIRFLOW_DB_USER" -v password="$AIRFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE airflow OWNER :"user";
SQL
