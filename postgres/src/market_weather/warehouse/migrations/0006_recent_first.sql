-- What the dashboard asks every ten seconds, answered from indexes as the tables grow by the minute:
-- the newest loads first, and the latest result of each check found through its index, a few rows per
-- check, instead of every result ever stored.

CREATE INDEX etl_runs_started_idx ON etl_runs (started_at DESC, run_id DESC);

CREATE OR REPLACE VIEW quality_latest AS
WITH RECURSIVE names (check_name) AS (
    (SELECT check_name FROM quality_checks ORDER BY check_name LIMIT 1)
    UNION ALL
    SELECT (SELECT q.check_name FROM quality_checks q WHERE q.check_name > names.check_name
             ORDER BY q.check_name LIMIT 1)
      FROM names
     WHERE names.check_name IS NOT NULL
)
SELECT latest.check_name, latest.status, latest.severity, latest.observed, latest.threshold, latest.detail,
       latest.run_id, latest.checked_at
  FROM names
 CROSS JOIN LATERAL (
        SELECT q.check_name, q.status, q.severity, q.observed, q.threshold, q.detail, q.run_id, q.checked_at
          FROM quality_checks q
         WHERE q.check_name = names.check_name
         ORDER BY q.checked_at DESC, q.id DESC
         LIMIT 1) latest;
