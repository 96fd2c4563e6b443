-- lighttpd.lua - the mod_magnet script of lighttpd.conf (Debian package
-- lighttpd-modules-lua): its server.error-handler, /_pulse/error.
-- lighttpd's own error answers (a POST without Content-Length gets 411
-- before any module runs, a FastCGI process that died or cannot be reached
-- gives 500/503, a 413 above server.max-request-size, 404 for a missing
-- file...) come out in Pulse's error shape
-- {"error":{"code":...,"message":...}} instead of lighttpd's HTML page; a
-- backend failure becomes 503 with Retry-After, since the process is
-- restarted at once and a retry is the right move. (The per-address limit
-- on streams, PULSE_MAX_PER_CLIENT, is pulse-stream's: it sees the streams
-- of every lighttpd worker, a script here only its own worker's.)
--
-- Pulse's own answers never come here: lighttpd calls the error handler
-- only for errors it produced itself (server.error-intercept is off).
-- The whole chunk runs once per request; a return of 200 or more is the
-- response status, nothing (nil) lets the request go on.

local r = lighty.r

-- Retry-After of every 503 answered here: what Pulse itself sends.
local RETRY_AFTER = "5"

local function answer(status, code, message)
  r.resp_header["Content-Type"] = "application/json; charset=utf-8"
  r.resp_header["Cache-Control"] = "no-store"
  if status == 503 then
    r.resp_header["Retry-After"] = RETRY_AFTER
  end
  -- code and message are constants below: no JSON escaping is needed
  r.resp_body.set({ '{"error":{"code":"', code, '","message":"', message, '"}}' })
  return status
end

-- lighttpd's own statuses, in the error shape of Pulse's (API.md).
local ERRORS = {
  [400] = { "bad_request", "the request is malformed" },
  [403] = { "forbidden", "access to this resource is not allowed" },
  [404] = { "not_found", "no such resource" },
  [405] = { "method_not_allowed", "this method is not allowed here" },
  [408] = { "request_timeout", "the request was not received in time" },
  [411] = { "length_required",
            "a POST needs a Content-Length header; send Content-Length: 0 for an empty body (curl -d '')" },
  [413] = { "body_too_large", "the request body is too large" },
  [414] = { "uri_too_long", "the request URI is too long" },
  [416] = { "range_not_satisfiable", "the requested range is not satisfiable" },
  [417] = { "expectation_failed", "the Expect header is not supported" },
  [431] = { "headers_too_large", "the request headers are too large" },
  [501] = { "not_implemented", "this method is not implemented" },
  [505] = { "http_version_not_supported", "this HTTP version is not supported" },
}

local function error_document()
  local status = tonumber(r.req_env["REDIRECT_STATUS"] or "")
  if status == nil then
    -- asked for directly, not as lighttpd's error handler
    return answer(404, "not_found", "no such resource")
  end
  local e = ERRORS[status]
  if e ~= nil then
    return answer(status, e[1], e[2])
  end
  if status >= 500 then
    -- A FastCGI process died mid-request or cannot be reached yet: it is
    -- being restarted (by lighttpd, or by pulse-api's own supervisor).
    return answer(503, "unavailable", "the service is restarting a process; retry shortly")
  end
  return answer(status, "http_error", "the request failed")
end

return error_document()
