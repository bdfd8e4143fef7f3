-- A location known so far only from air quality or from a file's weather gets its row, named as configured (or
-- by its id). Weather observations name locations from the API; these rows never replace one of those.
-- Reads the run's staging tables of air_quality and weather_observations; the arrays hold the configured locations.
INSERT INTO locations (location_id, name, lat, lon)
SELECT a.location_id, coalesce(c.name, a.location_id), c.lat, c.lon
  FROM (SELECT location_id FROM {staged_air} UNION SELECT location_id FROM {staged_weather}) a
  LEFT JOIN unnest(%(ids)s::text[], %(names)s::text[], %(lats)s::float8[], %(lons)s::float8[])
       AS c (location_id, name, lat, lon) USING (location_id)
ON CONFLICT (location_id) DO NOTHING
