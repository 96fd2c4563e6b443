-- wrk_webhook.lua - wrk script of `make bench`: POST /api/payos/webhook,
-- each request a different signed PayOS body (one per pending top-up), read
-- from BENCH_BODIES (one JSON body a line). Thread k of BENCH_THREADS takes
-- lines k, k+T, k+2T...; a thread that runs out starts over (a redelivery,
-- which Pulse answers 200 without a change: bench/run.py counts those).
local nthreads = 0

function setup(thread)
   thread:set("id", nthreads)
   nthreads = nthreads + 1
end

local bodies = {}
local i = 0

function init(args)
   local total = tonumber(os.getenv("BENCH_THREADS"))
   local f = assert(io.open(os.getenv("BENCH_BODIES"), "r"))
   local n = 0
   for line in f:lines() do
      if n % total == id then
         bodies[#bodies + 1] = line
      end
      n = n + 1
   end
   f:close()
end

local headers = {["Content-Type"] = "application/json"}

function request()
   i = i + 1
   if i > #bodies then
      i = 1
   end
   return wrk.format("POST", nil, headers, bodies[i])
end
