-- wrk script for bench/run.sh. One script, three modes (the first argument
-- after "--"):
--
--   wrk ... URL -- post LOOKUPS      POST /shipment/ {"tracking_number","carrier"}
--   wrk ... URL -- get  LOOKUPS      GET /shipment/{carrier}/{tracking_number}
--   wrk ... URL -- fresh LOOKUPS     the same with Cache-Control: no-cache, which
--                                    makes the server read the database
--   wrk ... URL -- hot LOOKUPS [N] [SHARE]
--                                    GET as "get", but SHARE of the requests
--                                    (default 0.9) go to the last N lines of
--                                    LOOKUPS (default 10000), the newest
--                                    shipments; the rest are uniform
--   wrk ... URL -- path PATH [TOKEN] GET PATH (Authorization: Bearer TOKEN)
--
-- LOOKUPS has one "tracking_number,carrier" line per shipment (bench/gencsv
-- --lookups); each request picks one at random. done() prints one line
-- "BENCHJSON {...}" with the figures bench/run.sh aggregates.

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

local mode, tns, carriers, n, fixed, hot, share

function init(args)
  mode = args[1] or "get"
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
  if mode == "path" then
    local headers = { ["Accept"] = "application/json" }
    if args[3] and args[3] ~= "" then
      headers["Authorization"] = "Bearer " .. args[3]
    end
    fixed = wrk.format("GET", args[2] or "/", headers)
    return
  end
  tns, carriers, n = {}, {}, 0
  for line in io.lines(args[2]) do
    local tn, carrier = line:match("^([^,]+),([^,\r]+)")
    if tn then
      n = n + 1
      tns[n], carriers[n] = tn, carrier
    end
  end
  if n == 0 then
    error("no lookups in " .. tostring(args[2]))
  end
  hot = math.min(n, tonumber(args[3]) or 10000)
  share = tonumber(args[4]) or 0.9
end

local json_headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
local get_headers = { ["Accept"] = "application/json" }
local fresh_headers = { ["Accept"] = "application/json", ["Cache-Control"] = "no-cache" }

function request()
  if fixed then
    return fixed
  end
  local i = math.random(n)
  if mode == "hot" and math.random() < share then
    i = n - math.random(hot) + 1
  end
  if mode == "post" then
    return wrk.format("POST", "/shipment/", json_headers,
      '{"tracking_number":"' .. tns[i] .. '","carrier":"' .. carriers[i] .. '"}')
  end
  return wrk.format("GET", "/shipment/" .. carriers[i] .. "/" .. tns[i], mode == "fresh" and fresh_headers or get_headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_s":%.3f,"bytes":%d,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"mean_ms":%.3f,' ..
    '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, secs, summary.bytes, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    e.connect, e.read, e.write, e.status, e.timeout))
end
