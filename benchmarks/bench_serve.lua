-- wrk script for bench_serve.py: POST the JSON body in the file WRK_BODY names on every
-- request, with `Authorization: Bearer TOKEN` when WRK_TOKEN holds a token, and print the
-- run's numbers as one JSON line at the end (latencies in µs; errors as wrk counts them:
-- status is every answer over 399).
local file = assert(io.open(os.getenv("WRK_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()
local token = os.getenv("WRK_TOKEN")
if token and token ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. token
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
      '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.status, e.timeout))
end
