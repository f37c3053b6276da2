-- POST /delegates with a unique e-mail per request. EDITION_ID and TOKEN come from the environment.
local edition = os.getenv("EDITION_ID")
local token = os.getenv("TOKEN") or ""
local threads = {}
local counter = 0
local thread_id = 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid
end

function request()
  counter = counter + 1
  local body = string.format(
    '{"edition_id":"%s","full_name":"Bench Delegate","country":"MY","email":"b%d-%d-%d@bench.example.org","category":"guest"}',
    edition, thread_id, counter, math.random(1, 1000000000))
  return wrk.format("POST", "/delegates",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function done(summary, latency, requests)
  local codes = summary.errors.status
  io.write(string.format("NON2XX %d\n", codes))
end
