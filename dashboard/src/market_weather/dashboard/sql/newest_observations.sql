-- Each source's newest observation in the warehouse, from the views' newest row per key (air quality has
-- no such view: the newest per location, one backward step of its key each), and the warehouse's clock.
SELECT (SELECT max(observed_at) FROM latest_asset_prices) AS coincap,
       (SELECT max(observed_at) FROM latest_weather) AS weather,
       (SELECT max((SELECT max(q.observed_at) FROM air_quality q WHERE q.location_id = l.location_id))
          FROM locations l) AS air,
       now() AS now
