-- A fixed amount of work instead of a fixed duration: the thread stops after REQUESTS
-- responses (default 200000), so timing the whole wrk process compares targets by the
-- wall time and CPU they need for the same number of requests.
--   wrk -t1 -c32 -d120s -s bench/proxy/fixed-count.lua -H 'Host: bench.local' URL
local limit = tonumber(os.getenv("REQUESTS") or "200000")
local done = 0
function response(status, headers, body)
  done = done + 1
  if done >= limit then
    wrk.thread:stop()
  end
end
