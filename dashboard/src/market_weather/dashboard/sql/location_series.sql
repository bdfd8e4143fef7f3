-- One location's newest observations of the table and columns filled in (weather_observations or
-- air_quality, walked backwards along its key), oldest first: at most `limit` of them, within `span` of
-- its newest one, or all of them when span is null.
SELECT * FROM (
    SELECT observed_at, {columns}
      FROM {table}
     WHERE location_id = %(id)s
       AND observed_at > coalesce(
               (SELECT max(observed_at) FROM {table} WHERE location_id = %(id)s) - %(span)s::interval,
               '-infinity')
     ORDER BY observed_at DESC
     LIMIT %(limit)s
) newest
ORDER BY observed_at
