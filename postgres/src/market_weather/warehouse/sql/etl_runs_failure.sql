-- A run failed: it keeps no watermark, so the next run reads what this one could not.
UPDATE etl_runs
   SET status = 'failed',
       finished_at = now(),
       message = %(message)s
 WHERE run_id = %(run_id)s
