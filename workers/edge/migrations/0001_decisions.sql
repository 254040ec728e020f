-- Decision counters of the edge worker (workers/edge/src/metrics/): one row per (minute, region key,
-- exit, outcome), upserted by the isolates' batched flushes (counts added to counts), and per hour
-- once the scheduled handler rolls minutes older than METRICS_ROLLUP_AFTER_HOURS (48) into
-- decisions_hourly; hour rows older than METRICS_RETAIN_DAYS (90) are deleted.
--
--   minute / hour  Unix seconds of the minute's / hour's start (UTC)
--   region         the resolved region key: colo:LHR, country:GB, continent:EU or default
--   exit           the exit that answered (the backend's for forwarded); -1 for outcome error
--   outcome        edge | forwarded | degraded | error (workers/edge/src/metrics/aggregate.ts says which is which)
--   count          decisions
--   bytes          bytes of forwarded feature bodies
--   compute_ms     sum of the edge's own inference ms; backend_ms: of forward round trips; total_ms: of arrival-to-answer
--   b0..b19        decisions per total-ms bucket: b0 < 1 ms, b1 < 2, b2 < 3, b3 < 5, b4 < 8, b5 < 13, b6 < 20,
--                  b7 < 30, b8 < 50, b9 < 80, b10 < 130, b11 < 200, b12 < 300, b13 < 500, b14 < 800,
--                  b15 < 1300, b16 < 2000, b17 < 3000, b18 < 5000, b19 >= 5000 (BUCKET_BOUNDS_MS)
--
-- The primary keys lead with the time column: flushes upsert by key, the roll-up and retention
-- delete by time range. WITHOUT ROWID: the key is the row's identity and every read is by it.

-- Minute rows, the recent METRICS_ROLLUP_AFTER_HOURS.
CREATE TABLE decisions (
  minute INTEGER NOT NULL,
  region TEXT NOT NULL,
  exit INTEGER NOT NULL CHECK (exit >= -1),
  outcome TEXT NOT NULL CHECK (outcome IN ('edge', 'forwarded', 'degraded', 'error')),
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,
  compute_ms REAL NOT NULL DEFAULT 0,
  backend_ms REAL NOT NULL DEFAULT 0,
  total_ms REAL NOT NULL DEFAULT 0,
  b0 INTEGER NOT NULL DEFAULT 0,
  b1 INTEGER NOT NULL DEFAULT 0,
  b2 INTEGER NOT NULL DEFAULT 0,
  b3 INTEGER NOT NULL DEFAULT 0,
  b4 INTEGER NOT NULL DEFAULT 0,
  b5 INTEGER NOT NULL DEFAULT 0,
  b6 INTEGER NOT NULL DEFAULT 0,
  b7 INTEGER NOT NULL DEFAULT 0,
  b8 INTEGER NOT NULL DEFAULT 0,
  b9 INTEGER NOT NULL DEFAULT 0,
  b10 INTEGER NOT NULL DEFAULT 0,
  b11 INTEGER NOT NULL DEFAULT 0,
  b12 INTEGER NOT NULL DEFAULT 0,
  b13 INTEGER NOT NULL DEFAULT 0,
  b14 INTEGER NOT NULL DEFAULT 0,
  b15 INTEGER NOT NULL DEFAULT 0,
  b16 INTEGER NOT NULL DEFAULT 0,
  b17 INTEGER NOT NULL DEFAULT 0,
  b18 INTEGER NOT NULL DEFAULT 0,
  b19 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (minute, region, exit, outcome)
) WITHOUT ROWID;

-- Hour rows: rolled-up minutes, kept METRICS_RETAIN_DAYS.
CREATE TABLE decisions_hourly (
  hour INTEGER NOT NULL,
  region TEXT NOT NULL,
  exit INTEGER NOT NULL CHECK (exit >= -1),
  outcome TEXT NOT NULL CHECK (outcome IN ('edge', 'forwarded', 'degraded', 'error')),
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL DEFAULT 0,
  compute_ms REAL NOT NULL DEFAULT 0,
  backend_ms REAL NOT NULL DEFAULT 0,
  total_ms REAL NOT NULL DEFAULT 0,
  b0 INTEGER NOT NULL DEFAULT 0,
  b1 INTEGER NOT NULL DEFAULT 0,
  b2 INTEGER NOT NULL DEFAULT 0,
  b3 INTEGER NOT NULL DEFAULT 0,
  b4 INTEGER NOT NULL DEFAULT 0,
  b5 INTEGER NOT NULL DEFAULT 0,
  b6 INTEGER NOT NULL DEFAULT 0,
  b7 INTEGER NOT NULL DEFAULT 0,
  b8 INTEGER NOT NULL DEFAULT 0,
  b9 INTEGER NOT NULL DEFAULT 0,
  b10 INTEGER NOT NULL DEFAULT 0,
  b11 INTEGER NOT NULL DEFAULT 0,
  b12 INTEGER NOT NULL DEFAULT 0,
  b13 INTEGER NOT NULL DEFAULT 0,
  b14 INTEGER NOT NULL DEFAULT 0,
  b15 INTEGER NOT NULL DEFAULT 0,
  b16 INTEGER NOT NULL DEFAULT 0,
  b17 INTEGER NOT NULL DEFAULT 0,
  b18 INTEGER NOT NULL DEFAULT 0,
  b19 INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (hour, region, exit, outcome)
) WITHOUT ROWID;
