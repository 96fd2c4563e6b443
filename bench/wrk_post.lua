-- wrk_post.lua - wrk script of `make bench`: every request is the same POST
-- with a JSON body. BENCH_BODY is the body, BENCH_AUTH (optional) a bearer
-- token. Used for POST /api/publish (Pulse) and POST /pub/<channel> (nchan).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"topic":"room:tput","type":"bench","data":{"n":1}}'
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. auth
end
