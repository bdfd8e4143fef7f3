-- Rows taken in from files (a CoinGecko export, an Open-Meteo export) beside the APIs' own: each row says
-- which it is, and a row from a file never replaces one from an API (the merge's rule).

ALTER TABLE asset_prices ADD COLUMN from_file boolean NOT NULL DEFAULT false;
ALTER TABLE weather_observations ADD COLUMN from_file boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN asset_prices.from_file IS 'True for a row taken in from a file (a CoinGecko export: price, market cap and 24 h volume); an API row at the same instant replaces it, and it never replaces one.';
COMMENT ON COLUMN weather_observations.from_file IS 'True for a row taken in from a file (an Open-Meteo export, in the warehouse''s units); an API row at the same instant replaces it, and it never replaces one.';
