-- Whether the warehouse holds any price of an asset: tells an unknown asset from one without candles yet.
SELECT 1 FROM asset_prices WHERE asset_id = %(id)s LIMIT 1
