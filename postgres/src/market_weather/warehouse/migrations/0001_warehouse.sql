-- The warehouse: typed tables filled by the lake_to_warehouse Spark job.
-- The first migration. Warehouses created before the schema had migrations hold some of this
-- already, so every statement is idempotent: applied to one of those, it adds what is missing and
-- keeps the data. Later migrations are plain, forward-only steps.

CREATE TABLE IF NOT EXISTS assets (
    asset_id    text PRIMARY KEY,
    symbol      text NOT NULL,
    name        text NOT NULL,
    rank        integer,
    supply      numeric,
    max_supply  numeric,
    explorer    text,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS asset_prices (
    asset_id            text NOT NULL,
    observed_at         timestamptz NOT NULL,
    price_usd           numeric NOT NULL,
    market_cap_usd      numeric,
    volume_usd_24h      numeric,
    change_percent_24h  numeric,
    vwap_24h            numeric,
    supply              numeric,
    PRIMARY KEY (asset_id, observed_at)
);

CREATE TABLE IF NOT EXISTS asset_ohlc (
    asset_id      text NOT NULL,
    interval      text NOT NULL CHECK (interval IN ('1m', '1h', '1d')),
    bucket_start  timestamptz NOT NULL,
    open          numeric NOT NULL,
    high          numeric NOT NULL,
    low           numeric NOT NULL,
    close         numeric NOT NULL,
    points        integer NOT NULL CHECK (points > 0),
    PRIMARY KEY (asset_id, interval, bucket_start)
);

CREATE TABLE IF NOT EXISTS locations (
    location_id  text PRIMARY KEY,
    name         text NOT NULL,
    country      text,
    lat          double precision,
    lon          double precision
);

CREATE TABLE IF NOT EXISTS weather_observations (
    location_id     text NOT NULL,
    observed_at     timestamptz NOT NULL,
    temp_c          double precision,
    feels_like_c    double precision,
    temp_min_c      double precision,
    temp_max_c      double precision,
    pressure_hpa    double precision,
    humidity_pct    double precision,
    wind_speed_ms   double precision,
    wind_deg        double precision,
    wind_gust_ms    double precision,
    clouds_pct      double precision,
    visibility_m    double precision,
    rain_1h_mm      double precision,
    snow_1h_mm      double precision,
    condition       text,
    description     text,
    PRIMARY KEY (location_id, observed_at)
);

CREATE TABLE IF NOT EXISTS air_quality (
    location_id  text NOT NULL,
    observed_at  timestamptz NOT NULL,
    aqi          smallint NOT NULL CHECK (aqi BETWEEN 1 AND 5),
    co           double precision,
    no           double precision,
    no2          double precision,
    o3           double precision,
    so2          double precision,
    pm2_5        double precision,
    pm10         double precision,
    nh3          double precision,
    PRIMARY KEY (location_id, observed_at)
);

CREATE TABLE IF NOT EXISTS etl_runs (
    run_id          text PRIMARY KEY,
    job             text NOT NULL,
    status          text NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    watermark_from  timestamptz,
    watermark_to    timestamptz,
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_written    bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    message         text,
    -- Lake documents fetched within the look-back before watermark_to, counted as the run began:
    -- an idle check that counts more knows that late writes arrived and reads the look-back again.
    tail_docs       bigint
);
-- Warehouses created before the column existed.
ALTER TABLE etl_runs ADD COLUMN IF NOT EXISTS tail_docs bigint;

CREATE INDEX IF NOT EXISTS etl_runs_job_success_idx
    ON etl_runs (job, watermark_to) WHERE status = 'success';

-- Staging tables live apart from what users query.
CREATE SCHEMA IF NOT EXISTS staging;

CREATE OR REPLACE VIEW latest_asset_prices AS
SELECT DISTINCT ON (p.asset_id)
       p.asset_id, a.symbol, a.name, p.observed_at, p.price_usd, p.market_cap_usd, p.change_percent_24h
  FROM asset_prices p
  LEFT JOIN assets a USING (asset_id)
 ORDER BY p.asset_id, p.observed_at DESC;

CREATE OR REPLACE VIEW latest_weather AS
SELECT DISTINCT ON (w.location_id)
       w.location_id, l.name, l.country, w.observed_at, w.temp_c, w.humidity_pct, w.condition, w.description
  FROM weather_observations w
  LEFT JOIN locations l USING (location_id)
 ORDER BY w.location_id, w.observed_at DESC;
