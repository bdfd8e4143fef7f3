-- OHLC buckets that break an invariant: low <= open, close <= high and points >= 1. Reads asset_ohlc.
-- The three latest such buckets, as examples; broken counts them all.
SELECT asset_id, interval, bucket_start, count(*) OVER () AS broken
  FROM asset_ohlc
 WHERE NOT (low <= least(open, close) AND greatest(open, close) <= high AND points >= 1)
 ORDER BY bucket_start DESC
 LIMIT 3
