-- One asset's newest candles of one interval (asset_ohlc, walked backwards along its key), oldest first:
-- at most `limit` of them, within `span` of its newest candle, or all of them when span is null.
SELECT * FROM (
    SELECT bucket_start, open, high, low, close, points
      FROM asset_ohlc
     WHERE asset_id = %(id)s AND interval = %(interval)s
       AND bucket_start > coalesce(
               (SELECT max(bucket_start) FROM asset_ohlc WHERE asset_id = %(id)s AND interval = %(interval)s)
               - %(span)s::interval,
               '-infinity')
     ORDER BY bucket_start DESC
     LIMIT %(limit)s
) newest
ORDER BY bucket_start
