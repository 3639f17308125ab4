-- What bench/wrk's scripts share, loaded by each with dofile: the thread
-- numbering, reading the lookups file, and done(), which prints the one
-- "BENCHJSON {...}" line bench/run.sh aggregates.

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

-- read_lookups reads a "tracking_number,carrier" file (bench/gencsv
-- --lookups): the tracking numbers, the carriers and how many.
function read_lookups(path)
  local tns, carriers, n = {}, {}, 0
  for line in io.lines(path) do
    local tn, carrier = line:match("^([^,]+),([^,\r]+)")
    if tn then
      n = n + 1
      tns[n], carriers[n] = tn, carrier
    end
  end
  if n == 0 then
    error("no lookups in " .. tostring(path))
  end
  return tns, carriers, n
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
