-- bench/notify.lua -- wrk script: Google-like push notifications.
--
--   wrk -t2 -c32 -d10s -s bench/notify.lua http://127.0.0.1:PORT/PATH \
--       -- CHANNELS.tsv BASE THREADS
--
-- CHANNELS.tsv has one channel a line: id TAB token TAB resource id TAB
-- resource URI TAB X-Goog-Channel-Expiration value (bench.py writes it
-- from the registry).  Every request is a POST the way Google sends one
-- for an Admin SDK Directory users.watch channel: the X-Goog-* headers, a
-- user event state (update, add, delete, makeAdmin, undelete) and a
-- Directory-style JSON body.
--
-- Message numbers are unique and increasing: thread t of T sends BASE + t,
-- BASE + t + T, BASE + t + 2T, ...; request k goes to channel k mod N, so
-- consecutive requests hit different channels and each channel sees
-- increasing (not consecutive) numbers, as from Google.  bench.py gives
-- every run a BASE above everything sent before.
--
-- done() prints one line, "BENCHJSON {...}", with the counts, errors and a
-- latency percentile grid (microseconds) that bench.py merges over rounds.

local thread_counter = 0

function setup(thread)
  thread:set("tid", thread_counter)
  thread_counter = thread_counter + 1
end

local chans, nchan = {}, 0
local base, nthreads, seq = 1, 1, 0
local prefix
local states = { "update", "add", "delete", "makeAdmin", "undelete" }

function init(args)
  local file = args[1]
  base = tonumber(args[2] or "1")
  nthreads = tonumber(args[3] or "1")
  if file == nil then
    error("usage: -- CHANNELS.tsv BASE THREADS")
  end
  for line in io.lines(file) do
    local id, tok, rid, uri, exp =
      line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
    if id then
      nchan = nchan + 1
      local h = "X-Goog-Channel-ID: " .. id .. "\r\n"
      if tok ~= "" then
        h = h .. "X-Goog-Channel-Token: " .. tok .. "\r\n"
      end
      if exp ~= "" then
        h = h .. "X-Goog-Channel-Expiration: " .. exp .. "\r\n"
      end
      chans[nchan] = h .. "X-Goog-Resource-ID: " .. rid .. "\r\n" ..
        "X-Goog-Resource-URI: " .. uri .. "\r\n"
    end
  end
  if nchan == 0 then
    error("no channels in " .. file)
  end
  local host = wrk.host
  if wrk.port then
    host = host .. ":" .. wrk.port
  end
  prefix = "POST " .. wrk.path .. " HTTP/1.1\r\n" ..
    "Host: " .. host .. "\r\n" ..
    "Accept: */*\r\n" ..
    "User-Agent: APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)\r\n" ..
    "Content-Type: application/json; utf-8\r\n"
end

function request()
  local k = seq * nthreads + tid
  seq = seq + 1
  local num = string.format("%.0f", base + k)
  local body = '{"kind":"admin#directory#user","id":"1' ..
    string.format("%020.0f", base + k) ..
    '","etag":"\\"Mf8RAmnABsVfQ47MMT_18MHAdRE/' .. num ..
    '\\"","primaryEmail":"user' .. num .. '@example.com"}'
  return prefix .. chans[(k % nchan) + 1] ..
    "X-Goog-Resource-State: " .. states[(k % 5) + 1] .. "\r\n" ..
    "X-Goog-Message-Number: " .. num .. "\r\n" ..
    "Content-Length: " .. #body .. "\r\n\r\n" .. body
end

function done(summary, latency, requests)
  local grid = {}
  for i = 1, 99 do
    grid[#grid + 1] = string.format("%d", latency:percentile(i))
  end
  grid[#grid + 1] = string.format("%d", latency:percentile(99.5))
  grid[#grid + 1] = string.format("%d", latency:percentile(99.9))
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"min_us":%d,"mean_us":%.1f,"max_us":%d,"p50_us":%d,"p99_us":%d,' ..
    '"grid":[%s]}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(99),
    table.concat(grid, ",")))
end
