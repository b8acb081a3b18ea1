-- wrk script: Alertmanager's own API, POST /api/v2/alerts, one alert per request (a JSON
-- array of one), cycling over BENCH_KEYS distinct alerts (default 1000; alertname and
-- instance differ). startsAt/endsAt are omitted: Alertmanager fills them in.
-- Counting, pacing and budgets: see common.lua. Run by bench/run.py, or by hand:
--   wrk -t2 -c64 -d10s --latency -s bench/am_alerts.lua http://127.0.0.1:9093

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local prefix = os.getenv("BENCH_KEY_PREFIX") or "bench"

local function body(i)
  local host = string.format("host-%04d", i)
  return string.format(
    '[{"labels":{"alertname":"%s-%04d","instance":"%s:9100","job":"bench",'
      .. '"severity":"error"},"annotations":{"summary":"Bench alert %04d: high error rate on %s"},'
      .. '"generatorURL":"http://127.0.0.1/bench"}]',
    prefix, i, host, i, host
  )
end

bench.install(function()
  local requests = {}
  local headers = { ["Content-Type"] = "application/json" }
  for i = 0, bench.keys - 1 do
    table.insert(requests, wrk.format("POST", "/api/v2/alerts", headers, body(i)))
  end
  return requests
end)
