-- Runs recorded as running with no live PostgreSQL session behind them: a run's session is named for its
-- run id. Reads etl_runs and pg_stat_activity.
SELECT run_id
  FROM etl_runs r
 WHERE status = 'running'
   AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.application_name = r.run_id)
