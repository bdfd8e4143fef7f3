-- How many lake documents have no row in the warehouse: of one batch of a collection's valid documents,
-- given as the arrays of their entity ids and observed_at, those missing from the table the collection
-- lands in (asset_prices by asset_id, weather_observations or air_quality by location_id).
SELECT count(*)
  FROM unnest(%(ids)s::text[], %(observed)s::timestamptz[]) AS k (id, at)
 WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.{key} = k.id AND t.observed_at = k.at)
