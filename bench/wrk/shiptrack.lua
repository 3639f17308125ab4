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
--   wrk ... URL -- seq LOOKUPS STEP  GET as "get", but each thread walks LOOKUPS
--                                    in order from its own line, STEP lines at a
--                                    time (STEP = wrk's threads): every shipment
--                                    once before any twice, to fill the cache
--   wrk ... URL -- path PATH [TOKEN] GET PATH (Authorization: Bearer TOKEN)
--
-- LOOKUPS has one "tracking_number,carrier" line per shipment (bench/gencsv
-- --lookups); each request picks one at random. done() prints one line
-- "BENCHJSON {...}" with the figures bench/run.sh aggregates.

-- setup(), read_lookups() and done() live beside this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local mode, tns, carriers, n, fixed, hot, share, step, pos

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
  tns, carriers, n = read_lookups(args[2])
  hot = math.min(n, tonumber(args[3]) or 10000)
  share = tonumber(args[4]) or 0.9
  step = tonumber(args[3]) or 1
  pos = (thread_no or 1) - step
end

local json_headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
local get_headers = { ["Accept"] = "application/json" }
local fresh_headers = { ["Accept"] = "application/json", ["Cache-Control"] = "no-cache" }

function request()
  if fixed then
    return fixed
  end
  local i = math.random(n)
  if mode == "seq" then
    pos = pos + step
    i = (pos - 1) % n + 1
  elseif mode == "hot" and math.random() < share then
    i = n - math.random(hot) + 1
  end
  if mode == "post" then
    return wrk.format("POST", "/shipment/", json_headers,
      '{"tracking_number":"' .. tns[i] .. '","carrier":"' .. carriers[i] .. '"}')
  end
  return wrk.format("GET", "/shipment/" .. carriers[i] .. "/" .. tns[i], mode == "fresh" and fresh_headers or get_headers)
end
