-- Shared by the wrk scripts in this directory (loaded with dofile; not a wrk script itself).
--
-- Every script counts 2xx responses as successes and everything else as failures, per
-- thread, and prints one line `BENCH_RESULT {json}` from done() for bench/run.py to read.
-- Two optional controls, both read from the environment (set by bench/run.py):
--   BENCH_RATE    total requests per second to aim at, shared evenly by the threads: each
--                 thread follows a fixed schedule (one slot every threads*1000/rate ms) and
--                 delay() waits for the next slot, so the rate does not depend on latency.
--   BENCH_BUDGET  total 2xx responses wanted, split evenly by the threads. A connection
--                 sends only while successes + requests in flight < the thread's share (a
--                 failed request frees its place, so it is retried like a real sender
--                 retries a 503); when its share is in, the thread writes
--                 BENCH_DONE_DIR/thread-<n>.done and stops. Never more than the budget of
--                 successful requests is sent.
-- BENCH_THREADS must equal wrk's -t (Lua cannot see it). Without either control the script
-- defines no delay() at all, so wrk runs flat out exactly as it does without a script delay.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local timespec = ffi.new("bench_timespec")
local CLOCK_MONOTONIC = 1

local M = {}

function M.now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local function env_number(name, default)
  local value = os.getenv(name)
  if value == nil or value == "" then
    return default
  end
  return tonumber(value)
end

M.threads = env_number("BENCH_THREADS", 1)
M.rate = env_number("BENCH_RATE", 0)
M.budget = env_number("BENCH_BUDGET", 0)
M.keys = env_number("BENCH_KEYS", 1000)
M.done_dir = os.getenv("BENCH_DONE_DIR") or ""

-- A parked connection (share reached, nothing to send) sleeps far longer than any run; the
-- thread stops or wrk's -d ends the run first.
local PARK_MS = 24 * 3600 * 1000

-- Installs setup/init/request/response/delay/done as globals. `make_requests(first)` returns
-- the list of fully formatted requests (wrk.format) a thread cycles through, starting at
-- index `first` so the threads do not march over the same keys in step.
function M.install(make_requests)
  local threads = {}
  local next_id = 0

  -- Main Lua state: number the threads.
  function setup(thread)
    thread:set("thread_id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
  end

  -- Thread state from here on.
  local requests, count, index
  local share, interval, next_slot
  ok, failed, inflight, first_ms, done_ms = 0, 0, 0, nil, nil
  -- Sends that delay() has let through and request() has not built yet. wrk itself calls
  -- request() once in the first thread's state before the run (to check the request), which
  -- must not use up a key: with delay() defined, only a send delay() let through advances.
  local granted = 0
  statuses = {}

  function init(args)
    local id = thread_id or 0
    requests = make_requests()
    count = #requests
    index = (id * math.floor(count / M.threads)) % count
    if M.budget > 0 then
      share = math.floor(M.budget / M.threads)
      if id < M.budget % M.threads then
        share = share + 1
      end
    end
    if M.rate > 0 then
      interval = M.threads * 1000 / M.rate
    end
  end

  function request()
    if delay ~= nil then
      if granted == 0 then
        return requests[index % count + 1]
      end
      granted = granted - 1
    end
    if first_ms == nil then
      first_ms = M.now_ms()
    end
    index = index % count + 1
    return requests[index]
  end

  function response(status, headers, body)
    if share then
      inflight = inflight - 1
    end
    if status >= 200 and status < 300 then
      ok = ok + 1
    else
      failed = failed + 1
    end
    statuses[status] = (statuses[status] or 0) + 1
    if share and ok >= share and done_ms == nil then
      done_ms = M.now_ms()
      if M.done_dir ~= "" then
        local f = io.open(M.done_dir .. "/thread-" .. tostring(thread_id or 0) .. ".done", "w")
        if f then
          f:write(tostring(ok))
          f:close()
        end
      end
      wrk.thread:stop()
    end
  end

  if M.rate > 0 or M.budget > 0 then
    function delay()
      if share then
        if ok + inflight >= share then
          return PARK_MS
        end
        inflight = inflight + 1
      end
      granted = granted + 1
      if not interval then
        return 0
      end
      local now = M.now_ms()
      if next_slot == nil then
        -- Stagger the threads' schedules so their slots interleave.
        next_slot = now + (thread_id or 0) * interval / M.threads
      end
      local slot = next_slot
      next_slot = next_slot + interval
      local wait = slot - now
      if wait < 0 then
        return 0
      end
      return math.floor(wait + 0.5)
    end
  end

  local function json_value(value)
    if type(value) == "table" then
      local parts = {}
      for k, v in pairs(value) do
        table.insert(parts, string.format("%q:%s", tostring(k), json_value(v)))
      end
      return "{" .. table.concat(parts, ",") .. "}"
    elseif value == nil or value ~= value or value == math.huge or value == -math.huge then
      return "null"
    end
    return tostring(value)
  end

  -- Main Lua state again, after every thread has finished.
  function done(summary, latency, requests_)
    local total_ok, total_failed = 0, 0
    local codes = {}
    local first, last = nil, nil
    local all_done = true
    for _, thread in ipairs(threads) do
      total_ok = total_ok + (thread:get("ok") or 0)
      total_failed = total_failed + (thread:get("failed") or 0)
      for code, n in pairs(thread:get("statuses") or {}) do
        codes[code] = (codes[code] or 0) + n
      end
      local f, d = thread:get("first_ms"), thread:get("done_ms")
      if f and (first == nil or f < first) then
        first = f
      end
      if d == nil then
        all_done = false
      elseif last == nil or d > last then
        last = d
      end
    end
    local result = {
      duration_us = summary.duration,
      requests = summary.requests,
      bytes = summary.bytes,
      ok = total_ok,
      failed = total_failed,
      statuses = codes,
      errors = {
        connect = summary.errors.connect,
        read = summary.errors.read,
        write = summary.errors.write,
        status = summary.errors.status,
        timeout = summary.errors.timeout,
      },
      latency_us = {
        mean = latency.mean,
        stdev = latency.stdev,
        max = latency.max,
        p50 = latency:percentile(50),
        p75 = latency:percentile(75),
        p90 = latency:percentile(90),
        p99 = latency:percentile(99),
        p999 = latency:percentile(99.9),
      },
      budget = M.budget,
      rate = M.rate,
      budget_met = (M.budget > 0 and all_done) and "true" or "false",
      budget_ms = (M.budget > 0 and all_done and first) and (last - first) or nil,
    }
    io.write("BENCH_RESULT " .. json_value(result) .. "\n")
  end
end

return M
