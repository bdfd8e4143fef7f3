-- Every location with its newest weather (latest_weather) and its newest air quality (air_quality, one
-- backward step of its key per location), by name.
SELECT l.location_id, l.name, l.country, l.lat, l.lon,
       w.observed_at AS weather_at, w.temp_c, w.humidity_pct, w.condition, w.description,
       a.observed_at AS air_at, a.aqi
  FROM locations l
  LEFT JOIN latest_weather w USING (location_id)
  LEFT JOIN LATERAL (
        SELECT q.observed_at, q.aqi FROM air_quality q WHERE q.location_id = l.location_id
         ORDER BY q.observed_at DESC LIMIT 1) a ON true
 ORDER BY l.name, l.location_id
