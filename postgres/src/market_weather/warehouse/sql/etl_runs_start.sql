-- A run begins. A retried run keeps its id: it starts over in the same row.
INSERT INTO etl_runs (run_id, job, status, started_at, watermark_from, tail_docs)
VALUES (%(run_id)s, %(job)s, 'running', now(), %(watermark_from)s, %(tail_docs)s)
ON CONFLICT (run_id) DO UPDATE
   SET status = 'running',
       started_at = now(),
       finished_at = NULL,
       watermark_from = EXCLUDED.watermark_from,
       watermark_to = NULL,
       rows_read = 0,
       rows_written = 0,
       rows_rejected = 0,
       message = NULL,
       tail_docs = EXCLUDED.tail_docs
