-- test.http_module: the http module's constant tables, and what it says
-- when there is no request to answer (nil and an Unavailable error; the
-- original returns nil and a string).
local t = require("t")
local http = require("http")

local T = {}

function T.status_names()
	local want = {
		OK = 200, CREATED = 201, ACCEPTED = 202, NO_CONTENT = 204,
		PARTIAL_CONTENT = 206, MOVED_PERMANENTLY = 301, FOUND = 302,
		SEE_OTHER = 303, NOT_MODIFIED = 304, TEMPORARY_REDIRECT = 307,
		PERMANENT_REDIRECT = 308, BAD_REQUEST = 400, UNAUTHORIZED = 401,
		PAYMENT_REQUIRED = 402, FORBIDDEN = 403, NOT_FOUND = 404,
		METHOD_NOT_ALLOWED = 405, NOT_ACCEPTABLE = 406, CONFLICT = 409,
		GONE = 410, UNPROCESSABLE = 422, TOO_MANY_REQUESTS = 429,
		INTERNAL_ERROR = 500, INTERNAL_SERVER_ERROR = 500, NOT_IMPLEMENTED = 501,
		BAD_GATEWAY = 502, SERVICE_UNAVAILABLE = 503, GATEWAY_TIMEOUT = 504,
		VERSION_NOT_SUPPORTED = 505,
	}
	for k, v in pairs(want) do
		t.eq(http.STATUS[k], v, "STATUS." .. k)
	end
	t.is_nil(http.STATUS.NO_SUCH_STATUS, "unknown names are nil")
end

function T.other_constants()
	t.eq(http.TRANSFER.CHUNKED, "chunked", "TRANSFER.CHUNKED")
	t.eq(http.TRANSFER.SSE, "sse", "TRANSFER.SSE")
	for _, k in ipairs({ "PARSE_FAILED", "INVALID_STATE", "WRITE_FAILED", "STREAM_ERROR" }) do
		t.eq(http.ERROR[k], k, "ERROR." .. k)
	end
	t.eq(http.METHOD.GET, "GET", "METHOD.GET")
	t.eq(http.CONTENT.JSON, "application/json", "CONTENT.JSON")
	t.eq(http.CONTENT.STREAM, "application/octet-stream", "CONTENT.STREAM")
end

function T.no_request_here()
	local res, err = http.response()
	t.is_nil(res, "no response object outside a request")
	t.err(res, err, errors.UNAVAILABLE, "no HTTP request in this context")
	local req, err2 = http.request()
	t.err(req, err2, errors.UNAVAILABLE, "no HTTP request in this context")
end

-- http.request's options: a table, or anything else ignored (the
-- original's current release ignores its argument); outside a request the
-- answer is the same Unavailable error whatever they are.
function T.request_options()
	for _, opts in ipairs({ { max_body = 10, timeout = 1000 }, { max_body = "x" }, "big", 5, true }) do
		local req, err = http.request(opts)
		t.err(req, err, errors.UNAVAILABLE, "no HTTP request in this context")
	end
	local req, err = http.request(nil)
	t.err(req, err, errors.UNAVAILABLE, "no HTTP request in this context")
end

return T
