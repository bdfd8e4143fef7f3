-- The latest result of every warehouse check (quality_latest), the failed and warned ones first.
SELECT check_name, status, severity, observed, threshold, detail, run_id, checked_at
  FROM quality_latest
 ORDER BY (status = 'pass'), check_name
