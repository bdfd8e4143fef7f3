-- What every table, view and column holds, for whoever opens the warehouse in pgAdmin or psql (\d+).

COMMENT ON TABLE assets IS 'One row per CoinCap asset, as of its newest /assets snapshot.';
COMMENT ON COLUMN assets.asset_id IS 'CoinCap slug, e.g. bitcoin.';
COMMENT ON COLUMN assets.symbol IS 'Ticker symbol, e.g. BTC.';
COMMENT ON COLUMN assets.name IS 'Display name.';
COMMENT ON COLUMN assets.rank IS 'Rank by market capitalisation (1 is the largest).';
COMMENT ON COLUMN assets.supply IS 'Units in circulation.';
COMMENT ON COLUMN assets.max_supply IS 'Most units that will ever exist; null when unbounded or unknown.';
COMMENT ON COLUMN assets.explorer IS 'URL of a block explorer.';
COMMENT ON COLUMN assets.updated_at IS 'observed_at of the snapshot this row comes from (UTC).';

COMMENT ON TABLE asset_prices IS 'Price points per asset and instant: /assets snapshots (every column) and /history points (price_usd only). A snapshot wins over a history point at the same instant.';
COMMENT ON COLUMN asset_prices.asset_id IS 'CoinCap slug (assets.asset_id).';
COMMENT ON COLUMN asset_prices.observed_at IS 'When the price held, per the source (UTC).';
COMMENT ON COLUMN asset_prices.price_usd IS 'Price in US dollars, exact decimal.';
COMMENT ON COLUMN asset_prices.market_cap_usd IS 'Supply times price in US dollars; null for history points.';
COMMENT ON COLUMN asset_prices.volume_usd_24h IS 'Traded volume over the last 24 hours in US dollars; null for history points.';
COMMENT ON COLUMN asset_prices.change_percent_24h IS 'Price change over the last 24 hours, in percent; null for history points.';
COMMENT ON COLUMN asset_prices.vwap_24h IS 'Volume-weighted average price over the last 24 hours; null for history points.';
COMMENT ON COLUMN asset_prices.supply IS 'Units in circulation at that instant; null for history points.';

COMMENT ON TABLE asset_ohlc IS 'Open, high, low, close per asset and bucket of 1 minute, 1 hour and 1 day, recomputed from every point of asset_prices in the bucket whenever one arrives.';
COMMENT ON COLUMN asset_ohlc.asset_id IS 'CoinCap slug (assets.asset_id).';
COMMENT ON COLUMN asset_ohlc.interval IS 'Bucket width: 1m, 1h or 1d.';
COMMENT ON COLUMN asset_ohlc.bucket_start IS 'Start of the bucket (UTC), included; its end is bucket_start plus the interval, excluded.';
COMMENT ON COLUMN asset_ohlc.open IS 'Price of the first point in the bucket, US dollars.';
COMMENT ON COLUMN asset_ohlc.high IS 'Highest price in the bucket.';
COMMENT ON COLUMN asset_ohlc.low IS 'Lowest price in the bucket.';
COMMENT ON COLUMN asset_ohlc.close IS 'Price of the last point in the bucket.';
COMMENT ON COLUMN asset_ohlc.points IS 'How many points of asset_prices the bucket holds.';

COMMENT ON TABLE locations IS 'Places observed by OpenWeather: named by their newest weather observation, else by OPENWEATHER_LOCATIONS.';
COMMENT ON COLUMN locations.location_id IS 'Id given in OPENWEATHER_LOCATIONS, e.g. paris.';
COMMENT ON COLUMN locations.name IS 'Place name.';
COMMENT ON COLUMN locations.country IS 'ISO 3166 country code, from the weather API; null until a weather observation names it.';
COMMENT ON COLUMN locations.lat IS 'Latitude, degrees.';
COMMENT ON COLUMN locations.lon IS 'Longitude, degrees.';

COMMENT ON TABLE weather_observations IS 'Current weather per location and observation time (OpenWeather /data/2.5/weather, metric units).';
COMMENT ON COLUMN weather_observations.location_id IS 'locations.location_id.';
COMMENT ON COLUMN weather_observations.observed_at IS 'Time of the observation, per the source (UTC).';
COMMENT ON COLUMN weather_observations.temp_c IS 'Air temperature, °C.';
COMMENT ON COLUMN weather_observations.feels_like_c IS 'Temperature as people feel it (wind chill, humidity), °C.';
COMMENT ON COLUMN weather_observations.temp_min_c IS 'Lowest temperature observed in the area at that moment, °C.';
COMMENT ON COLUMN weather_observations.temp_max_c IS 'Highest temperature observed in the area at that moment, °C.';
COMMENT ON COLUMN weather_observations.pressure_hpa IS 'Atmospheric pressure at sea level, hPa.';
COMMENT ON COLUMN weather_observations.humidity_pct IS 'Relative humidity, %.';
COMMENT ON COLUMN weather_observations.wind_speed_ms IS 'Wind speed, m/s.';
COMMENT ON COLUMN weather_observations.wind_deg IS 'Direction the wind blows from, degrees (0 north, 90 east).';
COMMENT ON COLUMN weather_observations.wind_gust_ms IS 'Wind gust, m/s; null when not reported.';
COMMENT ON COLUMN weather_observations.clouds_pct IS 'Cloud cover, %.';
COMMENT ON COLUMN weather_observations.visibility_m IS 'Visibility, metres (the API reports at most 10 km).';
COMMENT ON COLUMN weather_observations.rain_1h_mm IS 'Rain over the last hour, mm; null when none reported.';
COMMENT ON COLUMN weather_observations.snow_1h_mm IS 'Snow over the last hour, mm; null when none reported.';
COMMENT ON COLUMN weather_observations.condition IS 'Main condition, e.g. Rain, Clouds, Clear.';
COMMENT ON COLUMN weather_observations.description IS 'Condition in words, e.g. light rain.';

COMMENT ON TABLE air_quality IS 'Air pollution per location and time (OpenWeather /data/2.5/air_pollution, current and history).';
COMMENT ON COLUMN air_quality.location_id IS 'locations.location_id.';
COMMENT ON COLUMN air_quality.observed_at IS 'Time of the measurement, per the source (UTC).';
COMMENT ON COLUMN air_quality.aqi IS 'Air Quality Index: 1 good, 2 fair, 3 moderate, 4 poor, 5 very poor.';
COMMENT ON COLUMN air_quality.co IS 'Carbon monoxide, μg/m³.';
COMMENT ON COLUMN air_quality.no IS 'Nitrogen monoxide, μg/m³.';
COMMENT ON COLUMN air_quality.no2 IS 'Nitrogen dioxide, μg/m³.';
COMMENT ON COLUMN air_quality.o3 IS 'Ozone, μg/m³.';
COMMENT ON COLUMN air_quality.so2 IS 'Sulphur dioxide, μg/m³.';
COMMENT ON COLUMN air_quality.pm2_5 IS 'Fine particulate matter (under 2.5 μm), μg/m³.';
COMMENT ON COLUMN air_quality.pm10 IS 'Coarse particulate matter (under 10 μm), μg/m³.';
COMMENT ON COLUMN air_quality.nh3 IS 'Ammonia, μg/m³.';

COMMENT ON TABLE etl_runs IS 'One row per run of the lake_to_warehouse job: what it read, wrote and rejected, and the window of lake writes it covered.';
COMMENT ON COLUMN etl_runs.run_id IS 'The run''s id, prefixed by who started it (lake_to_warehouse, manual, demo, or Airflow''s run id).';
COMMENT ON COLUMN etl_runs.job IS 'The job''s name: lake_to_warehouse.';
COMMENT ON COLUMN etl_runs.status IS 'running (only while a live run works), success, or failed (message says why; abandoned when the process died).';
COMMENT ON COLUMN etl_runs.started_at IS 'When the run took the job''s lock and began.';
COMMENT ON COLUMN etl_runs.finished_at IS 'When it ended; null while running.';
COMMENT ON COLUMN etl_runs.watermark_from IS 'Start of the window of lake writes the run read (the previous run''s watermark_to); null for the first run.';
COMMENT ON COLUMN etl_runs.watermark_to IS 'End of that window, excluded: where the next run starts. Set on success only.';
COMMENT ON COLUMN etl_runs.rows_read IS 'Lake documents read.';
COMMENT ON COLUMN etl_runs.rows_written IS 'Warehouse rows inserted or changed, OHLC buckets included.';
COMMENT ON COLUMN etl_runs.rows_rejected IS 'Lake documents dead-lettered with a reason (typing or a plausibility rule).';
COMMENT ON COLUMN etl_runs.message IS 'Per-table counts on success; the cause on failure.';
COMMENT ON COLUMN etl_runs.tail_docs IS 'Lake documents written in the late-write window before watermark_to when the run began; the next run counts again to find late writes.';

COMMENT ON TABLE quality_checks IS 'Results of the warehouse checks (make check, and the check_warehouse task after every load), one row per check per time they ran.';
COMMENT ON COLUMN quality_checks.id IS 'Order of insertion.';
COMMENT ON COLUMN quality_checks.run_id IS 'The latest etl_runs run when the checks ran: the state they judged.';
COMMENT ON COLUMN quality_checks.check_name IS 'Which check, e.g. ohlc_invariants, freshness_coincap.';
COMMENT ON COLUMN quality_checks.severity IS 'error (a failure fails make check and its task) or warn (recorded, nothing fails).';
COMMENT ON COLUMN quality_checks.status IS 'pass, fail (an error check failed) or warn (a warn check failed).';
COMMENT ON COLUMN quality_checks.observed IS 'The value the check measured; null when there was nothing to measure.';
COMMENT ON COLUMN quality_checks.threshold IS 'The most the check allows.';
COMMENT ON COLUMN quality_checks.detail IS 'What was found, e.g. the first offending rows.';
COMMENT ON COLUMN quality_checks.checked_at IS 'When the check ran.';

COMMENT ON VIEW latest_asset_prices IS 'The newest price point of each asset, with its symbol and name: where to start.';
COMMENT ON COLUMN latest_asset_prices.asset_id IS 'CoinCap slug.';
COMMENT ON COLUMN latest_asset_prices.symbol IS 'Ticker symbol.';
COMMENT ON COLUMN latest_asset_prices.name IS 'Display name.';
COMMENT ON COLUMN latest_asset_prices.observed_at IS 'When that price held (UTC).';
COMMENT ON COLUMN latest_asset_prices.price_usd IS 'Price in US dollars.';
COMMENT ON COLUMN latest_asset_prices.market_cap_usd IS 'Market capitalisation in US dollars; null when the newest point is a history point.';
COMMENT ON COLUMN latest_asset_prices.change_percent_24h IS 'Change over 24 hours in percent; null when the newest point is a history point.';

COMMENT ON VIEW latest_weather IS 'The newest weather observation of each location, with its name and country.';
COMMENT ON COLUMN latest_weather.location_id IS 'locations.location_id.';
COMMENT ON COLUMN latest_weather.name IS 'Place name.';
COMMENT ON COLUMN latest_weather.country IS 'ISO 3166 country code.';
COMMENT ON COLUMN latest_weather.observed_at IS 'Time of the observation (UTC).';
COMMENT ON COLUMN latest_weather.temp_c IS 'Air temperature, °C.';
COMMENT ON COLUMN latest_weather.humidity_pct IS 'Relative humidity, %.';
COMMENT ON COLUMN latest_weather.condition IS 'Main condition.';
COMMENT ON COLUMN latest_weather.description IS 'Condition in words.';

COMMENT ON VIEW quality_latest IS 'The latest result of every warehouse check.';
COMMENT ON COLUMN quality_latest.check_name IS 'Which check.';
COMMENT ON COLUMN quality_latest.status IS 'pass, fail or warn.';
COMMENT ON COLUMN quality_latest.severity IS 'error or warn.';
COMMENT ON COLUMN quality_latest.observed IS 'The value the check measured.';
COMMENT ON COLUMN quality_latest.threshold IS 'The most the check allows.';
COMMENT ON COLUMN quality_latest.detail IS 'What was found.';
COMMENT ON COLUMN quality_latest.run_id IS 'The latest etl_runs run when the check ran.';
COMMENT ON COLUMN quality_latest.checked_at IS 'When the check ran.';
