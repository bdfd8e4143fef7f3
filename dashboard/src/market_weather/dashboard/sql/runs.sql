-- The newest runs of the warehouse load (etl_runs), newest first, with how long each took or has taken.
SELECT run_id, job, status, started_at, finished_at,
       extract(epoch FROM coalesce(finished_at, now()) - started_at)::float8 AS duration_s,
       watermark_from, watermark_to, rows_read, rows_written, rows_rejected, message
  FROM etl_runs
 ORDER BY started_at DESC, run_id DESC
 LIMIT %(limit)s
