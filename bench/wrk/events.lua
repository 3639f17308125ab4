-- wrk script for bench/run.sh's event-ingest scenarios (issue 15). Two
-- modes (the first argument after "--"):
--
--   wrk ... URL -- batch  LOOKUPS TOKEN [SIZE] [TAG] [latest]
--        POST /events with SIZE (default 1000) events, each for a random
--        shipment of LOOKUPS; with "latest", each occurred when it is sent,
--        so it is its shipment's newest and may change its status (the
--        webhook scenarios: status changes to deliver)
--   wrk ... URL -- single LOOKUPS TOKEN [TAG]
--        POST /shipment/{carrier}/{tracking_number}/events with one event
--        for a random shipment
--
-- TOKEN is a write token (Authorization: Bearer). Every event has an
-- event_id no other request of any run uses (the start time, TAG, wrk's
-- thread number and a per-thread counter), so each one is created, never
-- replayed; occurred_at is an RFC 3339 UTC time within the last 30 days.
-- LOOKUPS has one "tracking_number,carrier" line per shipment (bench/gencsv
-- --lookups). done() prints "BENCHJSON {...}" like shiptrack.lua.

-- setup(), read_lookups() and done() live beside this script.
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")

local mode, tns, carriers, n, size, prefix, seq, headers, base, latest
-- The seed's carrier wordings (normalised by the server's table) and one
-- it does not know (kept as status_text, normalised to the default).
local texts = { "in-transit", "inbound-scan", "transit", "scanned", "delivery", "Arrived at sort facility" }
local places = { "Berlin, DE", "Leipzig hub, DE", "Rotterdam, NL", "Lyon, FR", "" }

function init(args)
  mode = args[1] or "batch"
  if mode ~= "batch" and mode ~= "single" then
    error("mode must be batch or single, not " .. tostring(mode))
  end
  local tag
  if mode == "batch" then
    size = tonumber(args[4]) or 1000
    tag = args[5] or ""
    latest = args[6] == "latest"
  else
    size = 1
    tag = args[4] or ""
  end
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919)
  tns, carriers, n = read_lookups(args[2])
  headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    ["Authorization"] = "Bearer " .. (args[3] or ""),
  }
  prefix = string.format("wrk-%s-%d-%s-%d-", mode, os.time(), tag, thread_no or 0)
  seq = 0
  base = os.time() - 30 * 86400
end

-- event: the JSON members of one event (without braces), number k of this
-- thread.
local function event(k)
  return '"event_id":"' .. prefix .. k ..
    '","occurred_at":"' .. os.date("!%Y-%m-%dT%H:%M:%SZ", latest and os.time() or base + k % (29 * 86400)) ..
    '","status_text":"' .. texts[k % #texts + 1] ..
    '","location":"' .. places[k % #places + 1] ..
    '","message":"wrk"'
end

function request()
  seq = seq + 1
  if mode == "single" then
    local i = math.random(n)
    return wrk.format("POST", "/shipment/" .. carriers[i] .. "/" .. tns[i] .. "/events", headers,
      "{" .. event(seq) .. "}")
  end
  local parts = {}
  for j = 1, size do
    local i = math.random(n)
    parts[j] = '{"carrier":"' .. carriers[i] .. '","tracking_number":"' .. tns[i] .. '",' ..
      event(seq * size + j) .. "}"
  end
  return wrk.format("POST", "/events", headers, "[" .. table.concat(parts, ",") .. "]")
end
