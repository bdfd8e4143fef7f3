-- One warehouse check's result, stored against the latest run (null before the first); the view
-- quality_latest shows the latest result of each check.
INSERT INTO quality_checks (run_id, check_name, severity, status, observed, threshold, detail)
VALUES (%(run_id)s, %(check)s, %(severity)s, %(status)s, %(observed)s, %(threshold)s, %(detail)s)
