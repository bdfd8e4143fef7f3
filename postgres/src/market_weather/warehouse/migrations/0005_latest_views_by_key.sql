-- The latest_* views, same columns, now found through the primary keys: the distinct keys by a
-- loose index scan (one index probe per asset or location, recursively), then each key's newest row.
-- DISTINCT ON read every row of the table, which grows by the minute; this reads a few per key.

CREATE OR REPLACE VIEW latest_asset_prices AS
WITH RECURSIVE ids (asset_id) AS (
    (SELECT asset_id FROM asset_prices ORDER BY asset_id LIMIT 1)
    UNION ALL
    SELECT (SELECT p.asset_id FROM asset_prices p WHERE p.asset_id > ids.asset_id ORDER BY p.asset_id LIMIT 1)
      FROM ids
     WHERE ids.asset_id IS NOT NULL
)
SELECT p.asset_id, a.symbol, a.name, p.observed_at, p.price_usd, p.market_cap_usd, p.change_percent_24h
  FROM ids
 CROSS JOIN LATERAL (
        SELECT q.asset_id, q.observed_at, q.price_usd, q.market_cap_usd, q.change_percent_24h
          FROM asset_prices q
         WHERE q.asset_id = ids.asset_id
         ORDER BY q.observed_at DESC
         LIMIT 1) p
  LEFT JOIN assets a ON a.asset_id = p.asset_id;

CREATE OR REPLACE VIEW latest_weather AS
WITH RECURSIVE ids (location_id) AS (
    (SELECT location_id FROM weather_observations ORDER BY location_id LIMIT 1)
    UNION ALL
    SELECT (SELECT w.location_id FROM weather_observations w WHERE w.location_id > ids.location_id
             ORDER BY w.location_id LIMIT 1)
      FROM ids
     WHERE ids.location_id IS NOT NULL
)
SELECT w.location_id, l.name, l.country, w.observed_at, w.temp_c, w.humidity_pct, w.condition, w.description
  FROM ids
 CROSS JOIN LATERAL (
        SELECT o.location_id, o.observed_at, o.temp_c, o.humidity_pct, o.condition, o.description
          FROM weather_observations o
         WHERE o.location_id = ids.location_id
         ORDER BY o.observed_at DESC
         LIMIT 1) w
  LEFT JOIN locations l ON l.location_id = w.location_id;
