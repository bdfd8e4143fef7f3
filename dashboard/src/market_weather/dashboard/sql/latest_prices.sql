-- Every asset's newest price (latest_asset_prices) beside the newest price at least 24 hours before it
-- (asset_prices, one backward step of its key per asset), in the assets' CoinCap rank.
SELECT v.asset_id, v.symbol, v.name, v.observed_at, v.price_usd, v.market_cap_usd,
       v.change_percent_24h, day.price_usd AS price_24h_before, day.observed_at AS observed_24h_before
  FROM latest_asset_prices v
  LEFT JOIN LATERAL (
        SELECT p.price_usd, p.observed_at FROM asset_prices p
         WHERE p.asset_id = v.asset_id AND p.observed_at <= v.observed_at - interval '24 hours'
         ORDER BY p.observed_at DESC LIMIT 1) day ON true
  LEFT JOIN assets a USING (asset_id)
 ORDER BY a.rank NULLS LAST, v.asset_id
