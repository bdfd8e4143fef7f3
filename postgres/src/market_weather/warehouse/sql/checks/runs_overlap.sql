-- Runs of a job that started before an earlier run of it had finished (a run still going ends now),
-- which the job's lock forbids. Reads etl_runs.
SELECT run_id
  FROM (SELECT run_id, started_at,
               max(coalesce(finished_at, now())) OVER (
                   ORDER BY started_at, run_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
               ) AS earlier_end
          FROM etl_runs
         WHERE job = %(job)s) r
 WHERE started_at < earlier_end
