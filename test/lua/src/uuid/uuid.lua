-- test.uuid: require("uuid"), the original runtime's API (v1 v3 v4 v5 v7
-- validate version variant parse format): results, argument forms and the
-- INVALID errors for wrong types and malformed strings.
local t = require("t")
local uuid = require("uuid")

local T = {}

local DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
local URL = "6ba7b811-9dad-11d1-80b4-00c04fd430c8"
local STD = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

-- A `nil, err` result: INVALID, not retryable, with this message.
local function invalid(msg, v, err)
	local e = t.err(v, err, errors.INVALID, msg)
	t.eq(e:retryable(), false, "retryable")
	t.eq(e:message(), msg, "message")
end

function T.v4_random()
	local seen = {}
	for _ = 1, 200 do
		local id, err = uuid.v4()
		t.is_nil(err)
		t.match(id, STD)
		t.eq(id:sub(15, 15), "4", "version digit")
		t.ok(("89ab"):find(id:sub(20, 20), 1, true), "variant digit of " .. id)
		t.ok(not seen[id], "duplicate " .. id)
		seen[id] = true
	end
end

function T.v1_time_based()
	local id, err = uuid.v1()
	t.is_nil(err)
	t.match(id, STD)
	t.eq(uuid.version(id), 1)
	t.eq(uuid.variant(id), "RFC4122")
	local info = uuid.parse(id)
	t.ok(math.abs(info.timestamp - os.time()) <= 2, "timestamp is now: " .. info.timestamp)
	t.eq(#info.node, 6, "node is the 6 node bytes")
	t.ok(uuid.v1() ~= id, "two v1 differ")
end

function T.v3_v5_known_vectors()
	t.eq(uuid.v3(DNS, "python.org"), "6fa459ea-ee8a-3ca4-894e-db77e160355e")
	t.eq(uuid.v5(DNS, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d")
	t.eq(uuid.v5(URL, ""), "1b4db7eb-4057-5ddf-91e0-36dec72071f5", "empty name")
	t.eq(uuid.v3(DNS, "a\0b"), "002a0ada-f547-375a-bab5-896a11d1927e", "name with NUL")
	-- The namespace may be in any accepted form; the result is the same.
	t.eq(uuid.v5(DNS:upper(), "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d")
	t.eq(uuid.v5("urn:uuid:" .. DNS, "python.org"), "886313e1-3b8a-5372-9b90-0c9aee199e5d")
	t.eq(uuid.v3(DNS, "x"), uuid.v3(DNS, "x"), "deterministic")
	local _, e = uuid.v5(DNS, "x")
	t.is_nil(e)
end

function T.v3_v5_bad_arguments()
	for _, f in ipairs({uuid.v3, uuid.v5}) do
		invalid("namespace and name must be strings", f())
		invalid("namespace and name must be strings", f(DNS))
		invalid("namespace and name must be strings", f(DNS, 42))
		invalid("namespace and name must be strings", f(nil, "x"))
		invalid("namespace and name must be strings", f({}, "x"))
		invalid("invalid namespace UUID", f("invalid", "test"))
		invalid("invalid namespace UUID", f("", "test"))
		invalid("invalid namespace UUID", f(DNS:sub(1, 35) .. "g", "test"))
	end
end

function T.v7_time_ordered()
	local prev = uuid.v7()
	local now = os.time()
	for _ = 1, 500 do
		local id, err = uuid.v7()
		t.is_nil(err)
		t.match(id, STD)
		t.eq(uuid.version(id), 7)
		t.eq(uuid.variant(id), "RFC4122")
		t.ok(id > prev, "v7 ids increase: " .. prev .. " then " .. id)
		prev = id
	end
	local info = uuid.parse(prev)
	t.ok(math.abs(info.timestamp - now) <= 2, "timestamp is now: " .. info.timestamp)
	t.is_nil(info.node)
	-- RFC 9562 appendix A.6: unix_ts_ms 0x017F22E279B0.
	t.eq(uuid.parse("017F22E2-79B0-7CC3-98C4-DC0C0C07398F").timestamp, 1645557742)
end

function T.validate_forms()
	t.eq(uuid.validate(DNS), true)
	t.eq(uuid.validate(DNS:upper()), true, "upper case")
	t.eq(uuid.validate("{" .. DNS .. "}"), true, "braces")
	t.eq(uuid.validate("urn:uuid:" .. DNS), true, "urn")
	t.eq(uuid.validate("URN:UUID:" .. DNS), true, "urn prefix in any case")
	t.eq(uuid.validate((DNS:gsub("-", ""))), true, "32 hex digits")
	t.eq(uuid.validate("not-a-uuid"), false)
	t.eq(uuid.validate(""), false)
	t.eq(uuid.validate(DNS:sub(1, 23)), false, "truncated")
	t.eq(uuid.validate(DNS .. "-extra"), false, "extra characters")
	t.eq(uuid.validate(DNS:gsub("-", "_")), false, "wrong separators")
	t.eq(uuid.validate("urn:uuix:" .. DNS), false, "bad urn prefix")
	t.eq(uuid.validate(DNS:sub(1, 35) .. "z"), false, "non-hex digit")
	t.eq(uuid.validate(("g"):rep(32)), false, "32 non-hex")
	local v, err = uuid.validate(123)
	t.eq(v, false, "number")
	t.is_nil(err)
	t.eq(uuid.validate(nil), false, "nil")
	t.eq(uuid.validate({}), false, "table")
	t.eq(uuid.validate(), false, "nothing")
end

function T.version_and_variant()
	t.eq(uuid.version(DNS), 1)
	t.eq(uuid.version("550e8400-e29b-41d4-a716-446655440000"), 4)
	t.eq(uuid.version("00000000-0000-0000-0000-000000000000"), 0, "nil UUID")
	t.eq(uuid.version("ffffffff-ffff-ffff-ffff-ffffffffffff"), 15, "max UUID")
	t.eq(uuid.variant(DNS), "RFC4122")
	t.eq(uuid.variant("00000000-0000-0000-0000-000000000000"), "Reserved")
	t.eq(uuid.variant("00000000-0000-0000-c000-000000000000"), "Microsoft")
	t.eq(uuid.variant("00000000-0000-0000-e000-000000000000"), "Future")
	t.eq(math.type(uuid.version(DNS)), "integer")
end

function T.inspect_bad_input()
	for _, f in ipairs({uuid.version, uuid.variant, uuid.parse, uuid.format}) do
		invalid("input must be a string", f(123))
		invalid("input must be a string", f(nil))
		invalid("input must be a string", f())
		invalid("input must be a string", f({}))
		invalid("invalid UUID format", f("invalid"))
		invalid("invalid UUID format", f(""))
		invalid("invalid UUID format", f(DNS .. "0"))
	end
end

function T.parse_fields()
	local info, err = uuid.parse(DNS)
	t.is_nil(err)
	t.eq(info.version, 1)
	t.eq(info.variant, "RFC4122")
	t.eq(info.timestamp, 886630433, "1998-02-04, the DNS namespace's v1 time")
	t.eq(info.node, "\0\192\79\212\48\200", "node bytes 00c04fd430c8")
	local v4 = uuid.parse("550e8400-e29b-41d4-a716-446655440000")
	t.eq(v4.version, 4)
	t.is_nil(v4.timestamp)
	t.is_nil(v4.node)
end

function T.format_forms()
	local up = "{" .. DNS:upper() .. "}"
	t.eq(uuid.format(up), DNS, "standard is the default")
	t.eq(uuid.format(up, "standard"), DNS)
	t.eq(uuid.format(up, 42), DNS, "a non-string form is the default")
	t.eq(uuid.format(DNS, "simple"), "6ba7b8109dad11d180b400c04fd430c8")
	t.eq(uuid.format(DNS, "urn"), "urn:uuid:" .. DNS)
	t.eq(uuid.format("6ba7b8109dad11d180b400c04fd430c8"), DNS, "from 32 digits")
	invalid("unsupported format", uuid.format(DNS, "unknown"))
	invalid("unsupported format", uuid.format(DNS, "URN"))
	invalid("invalid UUID format", uuid.format("bad", "unknown"))
end

return T
