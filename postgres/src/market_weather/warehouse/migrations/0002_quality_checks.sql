-- Results of the warehouse checks (market_weather.warehouse.quality), one row per check per time
-- they run: after every load in Airflow, and alone with `make check`.

CREATE TABLE quality_checks (
    id          bigserial PRIMARY KEY,
    run_id      text,                 -- the latest etl_runs run when the checks ran: the state they judged
    check_name  text NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('error', 'warn')),
    status      text NOT NULL CHECK (status IN ('pass', 'fail', 'warn')),
    observed    numeric,              -- null when there was nothing to measure (no data yet)
    threshold   numeric,
    detail      text NOT NULL DEFAULT '',
    checked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX quality_checks_latest_idx ON quality_checks (check_name, checked_at DESC, id DESC);

-- The latest result of every check.
CREATE VIEW quality_latest AS
SELECT DISTINCT ON (check_name)
       check_name, status, severity, observed, threshold, detail, run_id, checked_at
  FROM quality_checks
 ORDER BY check_name, checked_at DESC, id DESC;
