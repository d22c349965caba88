-- test.base64: require("base64"), the original runtime's API (encode,
-- decode) over Go's StdEncoding: RFC 4648 section 10 vectors, binary
-- data, newlines skipped, and the INVALID errors with Go's byte offsets.
local t = require("t")
local base64 = require("base64")

local T = {}

local function invalid(msg, v, err)
	local e = t.err(v, err, errors.INVALID)
	t.eq(e:retryable(), false, "retryable")
	t.eq(tostring(e), msg, "message")
end

function T.rfc4648_vectors()
	local cases = {
		{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
		{"Hello, world!", "SGVsbG8sIHdvcmxkIQ=="},
	}
	for _, c in ipairs(cases) do
		t.eq(base64.encode(c[1]), c[2], "encode " .. c[1])
		local d, err = base64.decode(c[2])
		t.is_nil(err)
		t.eq(d, c[1], "decode " .. c[2])
	end
	-- encode returns one value, as the original's does.
	t.eq(select("#", base64.encode("x")), 1)
	t.eq(select("#", base64.decode("eA==")), 1)
end

function T.binary_roundtrip()
	local all = {}
	for i = 0, 255 do all[#all + 1] = string.char(i) end
	local bytes = table.concat(all)
	local enc = base64.encode(bytes)
	t.eq(#enc, 344)
	t.match(enc, "^[A-Za-z0-9+/]+=*$")
	t.eq(base64.decode(enc), bytes)
	-- The standard alphabet, not the URL one.
	t.eq(base64.encode("\xfb\xff"), "+/8=")
	t.eq(base64.decode("+/8="), "\xfb\xff")
	for n = 0, 40 do
		local s = bytes:sub(1, n)
		t.eq(base64.decode(base64.encode(s)), s, "length " .. n)
	end
end

function T.decode_leniency()
	-- Go skips \r and \n anywhere, and accepts non-zero trailing bits.
	t.eq(base64.decode("Zm9v\nYmFy"), "foobar")
	t.eq(base64.decode("Zm9v\r\nYmE=\n"), "fooba")
	t.eq(base64.decode("Zm\n=\n="), "f")
	t.eq(base64.decode("Zh=="), "f", "trailing bits are ignored")
	t.eq(base64.decode("\n"), "", "only newlines")
end

function T.decode_errors()
	local pre = "illegal base64 data at input byte "
	invalid(pre .. "7", base64.decode("invalid!base64"))
	invalid(pre .. "0", base64.decode("Zm9"))
	invalid(pre .. "4", base64.decode("Zm9vY"))
	invalid(pre .. "4", base64.decode("Zm9v "))
	invalid(pre .. "1", base64.decode("Z==="))
	invalid(pre .. "2", base64.decode("Zm=a"))
	invalid(pre .. "4", base64.decode("Zm9=Zm9v"))
	invalid(pre .. "3", base64.decode("Zm="))
	invalid(pre .. "0", base64.decode("-_8="))
	local _, err = base64.decode("@@@@")
	t.eq(err:message(), "illegal base64 data at input byte 0")
end

function T.bad_arguments()
	invalid("string expected", base64.encode(123))
	invalid("string expected", base64.encode(nil))
	invalid("string expected", base64.decode(true))
	invalid("string expected", base64.decode({}))
end

return T
