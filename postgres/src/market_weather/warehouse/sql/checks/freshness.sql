-- Minutes since the newest observation in a table of observations; null while it has none.
-- Reads the table the check names (asset_prices, weather_observations or air_quality).
SELECT extract(epoch FROM now() - max(observed_at)) / 60
  FROM {table}
