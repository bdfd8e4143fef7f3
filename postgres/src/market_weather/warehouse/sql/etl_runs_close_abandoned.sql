-- Runs left `running` by a process that is gone. Run by the holder of the job's lock: no other run
-- is live then, and the holder's own run records its start only after it took the lock.
UPDATE etl_runs
   SET status = 'failed',
       finished_at = now(),
       message = %(message)s
 WHERE job = %(job)s
   AND status = 'running'
   AND started_at < %(locked_at)s
RETURNING run_id
