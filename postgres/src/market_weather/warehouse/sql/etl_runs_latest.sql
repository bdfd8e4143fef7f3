-- The run of any job that started last: the warehouse checks' results are stored against it.
SELECT run_id
  FROM etl_runs
 ORDER BY started_at DESC NULLS LAST
 LIMIT 1
