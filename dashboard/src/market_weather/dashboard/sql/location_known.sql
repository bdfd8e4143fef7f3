-- Whether a location is in the warehouse: tells an unknown location from one without observations yet.
SELECT 1 FROM locations WHERE location_id = %(id)s LIMIT 1
