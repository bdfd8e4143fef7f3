-- A location known so far only from air quality gets its row, named as configured (or by its id).
-- Weather observations name locations from the API; these rows never replace one of those.
-- Reads the run's staging table of air_quality; the arrays hold the configured locations.
INSERT INTO locations (location_id, name, lat, lon)
SELECT a.location_id, coalesce(c.name, a.location_id), c.lat, c.lon
  FROM (SELECT DISTINCT location_id FROM {staged_air}) a
  LEFT JOIN unnest(%(ids)s::text[], %(names)s::text[], %(lats)s::float8[], %(lons)s::float8[])
       AS c (location_id, name, lat, lon) USING (location_id)
ON CONFLICT (location_id) DO NOTHING
