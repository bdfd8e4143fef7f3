-- A run that found nothing new in the lake: it succeeds, writes nothing and keeps the watermark.
UPDATE etl_runs
   SET status = 'success',
       finished_at = now(),
       watermark_to = %(watermark)s,
       message = 'nothing new in the lake'
 WHERE run_id = %(run_id)s
