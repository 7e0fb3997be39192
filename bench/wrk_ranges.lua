-- wrk script: GET one path with a random `Range: bytes=A-B` of a fixed length inside the file,
-- on keep-alive connections. Arguments (after `--`): PATH FILE_SIZE RANGE_LENGTH.
-- Each thread seeds its own generator; done() prints one JSON line that bench/http_peer.py reads.
-- No response() callback: it would make wrk hand every body to Lua, and wrk shares the two
-- cores with the server it measures. Non-2xx/3xx answers count in errors.status; the bench
-- checks one 206 and its bytes from each server before it measures.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  path = args[1]
  size = tonumber(args[2])
  length = tonumber(args[3])
  math.randomseed(id * 7919 + os.time())
end

function request()
  local first = math.random(0, size - length)
  return wrk.format("GET", path, { ["Range"] = "bytes=" .. first .. "-" .. (first + length - 1) })
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect + errors.read + errors.write + errors.timeout + errors.status,
    latency:percentile(50), latency:percentile(99)))
end
