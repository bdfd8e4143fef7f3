-- Where the last successful run of a job stopped reading the lake: the next one starts there.
SELECT max(watermark_to)
  FROM etl_runs
 WHERE job = %(job)s
   AND status = 'success'
