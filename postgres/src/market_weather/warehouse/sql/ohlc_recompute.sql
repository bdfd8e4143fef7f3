-- Recompute, from every stored point, each OHLC bucket of one interval that the run's new points fall in.
-- open is the price of the bucket's earliest point, close of its latest, points how many it holds.
-- Reads the run's staging table of asset_prices; the interval's name, date_trunc unit and width are values.
WITH touched AS (
    SELECT DISTINCT asset_id, date_trunc(%(unit)s::text, observed_at, 'UTC') AS bucket_start
      FROM {staged_prices}
), bounds AS (
    SELECT asset_id, min(bucket_start) AS lo, max(bucket_start) + %(width)s::interval AS hi
      FROM touched
     GROUP BY asset_id
), buckets AS (
    SELECT p.asset_id,
           date_trunc(%(unit)s::text, p.observed_at, 'UTC') AS bucket_start,
           (array_agg(p.price_usd ORDER BY p.observed_at))[1] AS open,
           max(p.price_usd) AS high,
           min(p.price_usd) AS low,
           (array_agg(p.price_usd ORDER BY p.observed_at DESC))[1] AS close,
           count(*) AS points
      FROM bounds b
      JOIN asset_prices p ON p.asset_id = b.asset_id AND p.observed_at >= b.lo AND p.observed_at < b.hi
     GROUP BY 1, 2
)
INSERT INTO asset_ohlc AS t (asset_id, interval, bucket_start, open, high, low, close, points)
SELECT k.asset_id, %(interval)s::text, k.bucket_start, k.open, k.high, k.low, k.close, k.points
  FROM buckets k
  JOIN touched USING (asset_id, bucket_start)
ON CONFLICT (asset_id, interval, bucket_start) DO UPDATE
   SET open = EXCLUDED.open,
       high = EXCLUDED.high,
       low = EXCLUDED.low,
       close = EXCLUDED.close,
       points = EXCLUDED.points
 WHERE (t.open, t.high, t.low, t.close, t.points)
       IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close, EXCLUDED.points)
