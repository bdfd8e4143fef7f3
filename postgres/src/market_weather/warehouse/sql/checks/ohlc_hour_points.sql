-- How many 1h OHLC buckets hold a number of points other than the sum of their 1m buckets' points
-- (a 1h bucket with no 1m bucket is not compared). Reads asset_ohlc.
SELECT count(*)
  FROM asset_ohlc h
  JOIN (SELECT asset_id, date_trunc('hour', bucket_start) AS hour, sum(points) AS points
          FROM asset_ohlc
         WHERE interval = '1m'
         GROUP BY 1, 2) m
    ON m.asset_id = h.asset_id AND m.hour = h.bucket_start
 WHERE h.interval = '1h'
   AND h.points <> m.points
