-- How many lake documents the late-write window before a watermark held when the run that set it began.
-- Idle runs keep the watermark without counting (tail_docs is null): they are skipped.
SELECT tail_docs
  FROM etl_runs
 WHERE job = %(job)s
   AND status = 'success'
   AND watermark_to = %(watermark)s
   AND tail_docs IS NOT NULL
 ORDER BY started_at DESC
 LIMIT 1
