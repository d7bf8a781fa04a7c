-- One request shape from the environment, and a machine-readable summary at the end.
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") or "application/json"
end
local token = os.getenv("WRK_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local forwarded_for = os.getenv("WRK_FORWARDED_FOR")
if forwarded_for and forwarded_for ~= "" then
  wrk.headers["X-Forwarded-For"] = forwarded_for
end

-- Counting one status means inspecting every response, which costs; only the scenarios that ask pay it.
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
local counted = tonumber(os.getenv("WRK_COUNT_STATUS") or "")
if counted then
  status_count = 0
  response = function(status, headers, body)
    if status == counted then
      status_count = status_count + 1
    end
  end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  local with_status = 0
  for _, thread in ipairs(threads) do
    with_status = with_status + (thread:get("status_count") or 0)
  end
  io.write(string.format(
    '\nWRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "socket_errors": %d, "with_status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.status, errors.connect + errors.read + errors.write + errors.timeout, with_status))
end
