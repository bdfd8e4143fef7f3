-- The job's runs recorded as running, oldest first.
SELECT run_id, started_at
  FROM etl_runs
 WHERE job = %(job)s
   AND status = 'running'
 ORDER BY started_at
