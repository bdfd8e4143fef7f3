-- A read-only role for whatever only looks at the warehouse (the dashboard, a BI tool): it may read every
-- table and view of the public schema, now and later, and change nothing. It cannot log in; a login
-- that is its member gets its password from the settings (DASHBOARD_DB_USER), set by migrate.py after
-- the migrations, since a migration is no place for a password.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'warehouse_reader') THEN
        CREATE ROLE warehouse_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO warehouse_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO warehouse_reader;
-- Tables and views the owner creates later (a new migration) are readable too.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO warehouse_reader;
-- Every role may create temporary tables by default: a reader gets nothing to write to, not even those.
-- The owner keeps its own rights on its database.
DO $$
BEGIN
    EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
END
$$;
-- Staging belongs to the job alone.
REVOKE ALL ON SCHEMA staging FROM warehouse_reader;
