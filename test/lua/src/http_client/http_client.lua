-- test.http_client: encode_uri/decode_uri (Go's url.QueryEscape and
-- QueryUnescape), the argument errors that raise, and the requests that
-- fail before any network I/O (Invalid errors).
local t = require("t")
local http_client = require("http_client")

local T = {}

function T.encode_uri()
	t.eq(http_client.encode_uri(""), "")
	t.eq(http_client.encode_uri("abcXYZ019-_.~"), "abcXYZ019-_.~", "unreserved kept")
	t.eq(http_client.encode_uri("a b"), "a+b", "space is +")
	t.eq(http_client.encode_uri("a+b&c=d/e?f#g%"), "a%2Bb%26c%3Dd%2Fe%3Ff%23g%25")
	t.eq(http_client.encode_uri("é"), "%C3%A9", "UTF-8 bytes, upper-case hex")
	t.eq(http_client.encode_uri("\0\n"), "%00%0A")
	t.eq(http_client.encode_uri(12), "12", "a number is read as its string")
end

function T.decode_uri()
	t.eq(http_client.decode_uri("a+b"), "a b")
	t.eq(http_client.decode_uri("%C3%A9%c3%a9"), "éé", "either case of hex")
	t.eq(http_client.decode_uri("a%2Bb%26c"), "a+b&c")
	t.eq(http_client.decode_uri(""), "")
	t.eq(http_client.decode_uri("%00"), "\0")
end

function T.decode_uri_errors()
	for _, case in ipairs({{"%zz", '"%zz"'}, {"abc%", '"%"'}, {"%4", '"%4"'}, {"ok%4g", '"%4g"'}}) do
		local v, err = http_client.decode_uri(case[1])
		local e = t.err(v, err, errors.INVALID)
		t.eq(e:message(), "invalid URL escape " .. case[2], case[1])
		t.eq(e:retryable(), false, "retryable")
	end
end

function T.round_trip()
	local s = ""
	for i = 0, 255 do s = s .. string.char(i) end
	t.eq(http_client.decode_uri(http_client.encode_uri(s)), s, "every byte")
end

function T.argument_errors()
	t.ok(not pcall(http_client.get), "no URL")
	t.ok(not pcall(http_client.get, ""), "empty URL")
	t.ok(not pcall(http_client.get, {}), "URL not a string")
	t.ok(not pcall(http_client.post, "http://127.0.0.1/", "opts"), "options not a table")
	t.ok(not pcall(http_client.request, "", "http://127.0.0.1/"), "empty method")
	t.ok(not pcall(http_client.request_batch, {}), "empty batch")
	t.ok(not pcall(http_client.request_batch, "x"), "batch not a table")
	t.ok(not pcall(http_client.encode_uri), "encode_uri without argument")
	t.ok(not pcall(http_client.decode_uri, {}), "decode_uri of a table")
end

function T.invalid_requests()
	local v, err = http_client.get("ftp://127.0.0.1/file")
	t.err(v, err, errors.INVALID)
	v, err = http_client.get("http://bad host/")
	t.err(v, err, errors.INVALID)
	v, err = http_client.request("GE T", "http://127.0.0.1/")
	t.err(v, err, errors.INVALID)
	v, err = http_client.get("http://127.0.0.1/", {tls = {cert = "x"}})
	t.err(v, err, errors.INVALID, "both cert and key must be provided together")
	v, err = http_client.get("http://127.0.0.1/", {headers = {["X-A"] = "1\r\nX-Injected: 2"}})
	t.err(v, err, errors.INVALID, "invalid header field X-A")
	v, err = http_client.get("http://127.0.0.1/", {cookies = {a = "1\nb"}})
	t.err(v, err, errors.INVALID, "invalid cookie value")
	v, err = http_client.request_batch({"x"})
	t.err(v, err, errors.INVALID, "each request must be a table")
	v, err = http_client.request_batch({{1, "http://127.0.0.1/"}})
	t.err(v, err, errors.INVALID, "method must be a string")
	v, err = http_client.request_batch({{"GET", 2}})
	t.err(v, err, errors.INVALID, "URL must be a string")
	v, err = http_client.request_batch({{"GET", "http://127.0.0.1/", {stream = true}}})
	t.err(v, err, errors.INVALID, "streaming not supported in batch requests")
	-- A batch whose entries all fail before I/O returns at once.
	local rs, errs = http_client.request_batch({{"GET", "ftp://x/"}, {"GET", "gopher://y/"}})
	t.eq(#rs, 0)
	t.eq(errs[1]:kind(), errors.INVALID)
	t.eq(errs[2]:kind(), errors.INVALID)
end

function T.module_shape()
	for _, name in ipairs({"get", "post", "put", "delete", "head", "patch", "request",
			"request_batch", "encode_uri", "decode_uri"}) do
		t.eq(type(http_client[name]), "function", name)
	end
end

return T
