-- A run succeeded: part of the merge transaction, so the watermark moves only if the merge commits.
UPDATE etl_runs
   SET status = 'success',
       finished_at = now(),
       watermark_to = %(watermark_to)s,
       rows_read = %(rows_read)s,
       rows_written = %(rows_written)s,
       rows_rejected = %(rows_rejected)s,
       message = %(message)s
 WHERE run_id = %(run_id)s
