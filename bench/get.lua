-- wrk script: GET one path over and over (BENCH_PATH, default "/"), counted like the other
-- scripts (see common.lua), so bench/statuspage.py reads the same BENCH_RESULT line.
--   BENCH_PATH=/status/acme/api/v2/summary.json wrk -t2 -c64 -d10s -s bench/get.lua http://127.0.0.1:8080

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local bench = dofile(here .. "common.lua")

local path = os.getenv("BENCH_PATH") or "/"

bench.install(function()
  return { wrk.format("GET", path, { ["Accept-Encoding"] = "identity" }) }
end)
