-- One freshness check's results (quality_checks, through its (check_name, checked_at) index), oldest first:
-- the newest `limit` of them within `span` back from now, or all of them when span is null.
SELECT * FROM (
    SELECT checked_at, observed
      FROM quality_checks
     WHERE check_name = %(check)s AND checked_at > coalesce(now() - %(span)s::interval, '-infinity')
     ORDER BY checked_at DESC
     LIMIT %(limit)s
) newest
ORDER BY checked_at
