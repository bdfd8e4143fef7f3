-- The latest successful load of a job that read anything from the lake: its run id and the watermarks
-- bounding the lake documents it read (watermark_from is null for a first load). Reads etl_runs.
SELECT run_id, watermark_from, watermark_to
  FROM etl_runs
 WHERE job = %(job)s
   AND status = 'success'
   AND rows_read > 0
 ORDER BY finished_at DESC
 LIMIT 1
