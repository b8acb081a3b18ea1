-- wrk script: PagerDuty Events API v2 trigger events, POST /v2/enqueue, cycling over
-- BENCH_KEYS distinct dedup keys (default 1000). The routing key comes from
-- TOCSIN_ROUTING_KEY, or TOCSIN_ROUTING_KEYS (comma-separated: dedup key i goes to routing key
-- i mod n, so the keys are spread over several integrations and their services);
-- BENCH_KEY_PREFIX keeps the keys of different runs apart.
-- Counting, pacing and budgets: see common.lua. Run by bench/run.py, or by hand:
--   TOCSIN_ROUTING_KEY=... wrk -t2 -c64 -d10s --latency -s bench/pd_trigger.lua http://127.0.0.1:8080

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local routing_keys = {}
for key in string.gmatch(os.getenv("TOCSIN_ROUTING_KEYS") or "", "[^,%s]+") do
  table.insert(routing_keys, key)
end
if #routing_keys == 0 then
  routing_keys = { os.getenv("TOCSIN_ROUTING_KEY") or "" }
end
local prefix = os.getenv("BENCH_KEY_PREFIX") or "bench"

local function body(i)
  local host = string.format("host-%04d", i)
  return string.format(
    '{"routing_key":"%s","event_action":"trigger","dedup_key":"%s-%04d",'
      .. '"payload":{"summary":"Bench alert %04d: high error rate on %s","source":"%s",'
      .. '"severity":"error","component":"api","custom_details":{"job":"bench","instance":"%s"}}}',
    routing_keys[i % #routing_keys + 1], prefix, i, i, host, host, host
  )
end

bench.install(function()
  local requests = {}
  local headers = { ["Content-Type"] = "application/json" }
  for i = 0, bench.keys - 1 do
    table.insert(requests, wrk.format("POST", "/v2/enqueue", headers, body(i)))
  end
  return requests
end)
