-- Minutes missing inside backfilled m1 price history, one row per gap, largest first. Reads asset_prices.
-- History points are the rows with only a price, on whole minutes. A gap is a hole between two of them,
-- up to range_break long, with an m1 neighbour on each side: inside an m1 range, not between two ranges
-- and not in coarser history.
WITH points AS (
    SELECT asset_id, observed_at AS at,
           lag(observed_at) OVER w AS before, lead(observed_at) OVER w AS after,
           lead(observed_at, 2) OVER w AS after_next
      FROM asset_prices
     WHERE market_cap_usd IS NULL AND observed_at = date_trunc('minute', observed_at)
    WINDOW w AS (PARTITION BY asset_id ORDER BY observed_at)
)
SELECT asset_id, at, after, (extract(epoch FROM after - at) / 60)::bigint - 1 AS missing
  FROM points
 WHERE after - at > interval '1 minute' AND after - at <= %(range_break)s::interval
   AND at - before = interval '1 minute' AND after_next - after = interval '1 minute'
 ORDER BY missing DESC, asset_id, at
