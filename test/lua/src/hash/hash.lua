-- test.hash: require("hash"), the original runtime's API: md5 sha1 sha256
-- sha512 (data [, raw]), fnv32 fnv64, hmac_* (data, secret [, raw]),
-- pbkdf2 and the streaming hash.new. Known vectors: FIPS 180 / RFC 1321
-- digests, RFC 2202 and RFC 4231 HMACs, RFC 7914 PBKDF2-HMAC-SHA256, and
-- FNV-1 reference values (Go's fnv.New32/New64, which the original calls,
-- are FNV-1, not FNV-1a).
local t = require("t")
local hash = require("hash")

local T = {}

local function unhex(s)
	return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local function tohex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

-- A `nil, err` result: INVALID, not retryable, with this message.
local function invalid(msg, v, err)
	local e = t.err(v, err, errors.INVALID, msg)
	t.eq(e:retryable(), false, "retryable")
	t.eq(e:message(), msg, "message")
end

function T.digest_vectors()
	local abc56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
	local cases = {
		{"md5", "", "d41d8cd98f00b204e9800998ecf8427e"},
		{"md5", "abc", "900150983cd24fb0d6963f7d28e17f72"},
		{"md5", "hello", "5d41402abc4b2a76b9719d911017c592"},
		{"sha1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
		{"sha1", abc56, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
		{"sha1", "hello", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"},
		{"sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"sha256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"sha256", abc56, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"sha512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
			.. "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
	}
	for _, c in ipairs(cases) do
		local d, err = hash[c[1]](c[2])
		t.is_nil(err)
		t.eq(d, c[3], c[1] .. "(" .. c[2] .. ")")
		local raw, err2 = hash[c[1]](c[2], true)
		t.is_nil(err2)
		t.eq(raw, unhex(c[3]), c[1] .. " raw")
		t.eq(#raw, #c[3] // 2)
	end
	-- A long input: one million 'a' (FIPS 180-2 appendix B.3).
	t.eq(hash.sha256(string.rep("a", 1000000)),
		"cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
	-- Bytes, not text: NULs and high bytes are hashed as they are.
	t.eq(hash.md5("a\0b"), hash.md5("a\0b"))
	t.ok(hash.md5("a\0b") ~= hash.md5("a"), "NUL is part of the data")
	-- raw is read as a Lua truth value; false and nil give hex.
	t.eq(hash.sha1("abc", false), "a9993e364706816aba3e25717850c26c9cd0d89d")
	t.eq(#hash.sha1("abc", 1), 20, "a truthy non-boolean means raw")
end

function T.hmac_vectors()
	local k0b20, k0b16 = string.rep("\x0b", 20), string.rep("\x0b", 16)
	local jefe, what = "Jefe", "what do ya want for nothing?"
	-- RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
	t.eq(hash.hmac_sha256("Hi There", k0b20),
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
	t.eq(hash.hmac_sha512("Hi There", k0b20),
		"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
		.. "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854")
	t.eq(hash.hmac_sha256(what, jefe),
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	t.eq(hash.hmac_sha512(what, jefe),
		"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		.. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")
	t.eq(hash.hmac_sha256("Test Using Larger Than Block-Size Key - Hash Key First",
		string.rep("\xaa", 131)),
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
	-- RFC 2202: HMAC-MD5 case 1, HMAC-SHA1 case 2.
	t.eq(hash.hmac_md5("Hi There", k0b16), "9294727a3638bb1c13f48ef8158bfc9d")
	t.eq(hash.hmac_sha1(what, jefe), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
	-- An empty secret is a valid HMAC key.
	t.eq(hash.hmac_sha256("", ""),
		"b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
	-- raw output: the same bytes.
	local raw, err = hash.hmac_sha256(what, jefe, true)
	t.is_nil(err)
	t.eq(tohex(raw), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	t.eq(#hash.hmac_md5("x", "k", true), 16)
	t.eq(#hash.hmac_sha1("x", "k", true), 20)
	t.eq(#hash.hmac_sha512("x", "k", true), 64)
end

function T.fnv_reference_values()
	local cases = {
		{"", 0x811c9dc5, 0xcbf29ce484222325},
		{"a", 0x050c5d7e, 0xaf63bd4c8601b7be},
		{"foobar", 0x31f0b262, 0x340d8765a4dda9c2},
		{"hello", 0xb6fa7167, 0x7b495389bdbdd4c7},
	}
	for _, c in ipairs(cases) do
		local h32, err = hash.fnv32(c[1])
		t.is_nil(err)
		t.eq(math.type(h32), "integer", "fnv32 is an integer")
		t.eq(h32, c[2], "fnv32(" .. c[1] .. ")")
		t.ok(h32 >= 0 and h32 <= 0xffffffff, "fnv32 in 32 bits")
		local h64, err2 = hash.fnv64(c[1])
		t.is_nil(err2)
		t.eq(h64, c[3], "fnv64(" .. c[1] .. ")")
	end
	-- The 64 bits from 2^63 up read as a negative integer; %x shows them.
	t.eq(string.format("%x", hash.fnv64("a")), "af63bd4c8601b7be")
	t.ok(hash.fnv64("a") < 0, "top bit set")
end

function T.pbkdf2_vectors()
	-- RFC 7914 section 11, PBKDF2-HMAC-SHA256.
	local k, err = hash.pbkdf2("passwd", "salt", 1, 64)
	t.is_nil(err)
	t.eq(tohex(k), "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
		.. "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
	t.eq(tohex(hash.pbkdf2("Password", "NaCl", 80000, 64, "sha256")),
		"4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
		.. "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d")
	t.eq(tohex(hash.pbkdf2("password", "salt", 2, 64, "sha512")),
		"e1d9c16aa681708a45f5c7c4e215ceb66e011a2e9f0040713f18aefdb866d53c"
		.. "f76cab2868a39b9f7840edce4fef5a82be67335c77a6068e04112754f27ccf4e")
	-- A short key is a prefix of the long one.
	t.eq(tohex(hash.pbkdf2("passwd", "salt", 1, 5)), "55ac046e56")
	-- A non-string algo falls back to sha256, as the original reads it.
	t.eq(hash.pbkdf2("passwd", "salt", 1, 8, 42), hash.pbkdf2("passwd", "salt", 1, 8))
end

function T.pbkdf2_errors()
	invalid("password must be a string", hash.pbkdf2(1, "salt", 1, 1))
	invalid("salt must be a string", hash.pbkdf2("pw", nil, 1, 1))
	invalid("password cannot be empty", hash.pbkdf2("", "salt", 1, 1))
	invalid("salt cannot be empty", hash.pbkdf2("pw", "", 1, 1))
	invalid("iterations must be positive", hash.pbkdf2("pw", "salt", 0, 16))
	invalid("iterations must be positive", hash.pbkdf2("pw", "salt", -5, 16))
	invalid("iterations exceeds maximum (10000000)", hash.pbkdf2("pw", "salt", 10000001, 16))
	invalid("key length must be positive", hash.pbkdf2("pw", "salt", 1, 0))
	invalid("unsupported hash function: md5", hash.pbkdf2("pw", "salt", 1, 16, "md5"))
	-- iterations and key_length are checked like the original's CheckInt.
	t.raises(function() hash.pbkdf2("pw", "salt", "many", 16) end, "number expected")
	t.raises(function() hash.pbkdf2("pw", "salt", 1) end, "number expected")
end

function T.bad_arguments()
	for _, f in ipairs({"md5", "sha1", "sha256", "sha512", "fnv32", "fnv64"}) do
		invalid("data must be a string", hash[f](123))
		invalid("data must be a string", hash[f](nil))
		invalid("data must be a string", hash[f]({}))
	end
	for _, f in ipairs({"hmac_md5", "hmac_sha1", "hmac_sha256", "hmac_sha512"}) do
		invalid("data must be a string", hash[f](123, "secret"))
		invalid("secret must be a string", hash[f]("data", 123))
		invalid("secret must be a string", hash[f]("data"))
	end
end

function T.streaming_hasher()
	local h, err = hash.new("sha256")
	t.is_nil(err)
	t.eq(tostring(h), "hash.Hasher(sha256)")
	t.eq(h:sum(), hash.sha256(""), "nothing appended")
	local ok, e = h:update("ab")
	t.eq(ok, true)
	t.is_nil(e)
	h:update("c")
	t.eq(h:sum(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
	-- sum keeps the state: more data may follow.
	h:update("dbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
	t.eq(h:sum(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
	t.eq(h:sum(true), hash.sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", true))
	h:reset()
	t.eq(h:sum(), hash.sha256(""), "reset discards")
	-- Chunks of a large input digest as the one-shot function does.
	for _, algo in ipairs({"md5", "sha1", "sha256", "sha512"}) do
		local s = hash.new(algo)
		local chunk = string.rep("0123456789", 6553)
		for _ = 1, 10 do s:update(chunk) end
		t.eq(s:sum(), hash[algo](string.rep(chunk, 10)), algo .. " chunks")
	end
	-- update with a non-string: false and an INVALID error, state kept.
	local s = hash.new("md5")
	s:update("abc")
	local okb, eb = s:update(42)
	t.eq(okb, false)
	t.eq(eb:kind(), errors.INVALID)
	t.eq(eb:message(), "data must be a string")
	t.eq(s:sum(), "900150983cd24fb0d6963f7d28e17f72")
end

function T.streaming_errors()
	invalid("algorithm must be a string", hash.new(256))
	invalid("unsupported hash function: sha3", hash.new("sha3"))
	invalid("unsupported hash function: fnv32", hash.new("fnv32"))
	local h = hash.new("sha1")
	-- Methods called on something that is not a Hasher raise.
	t.raises(function() h.sum({}) end, "hash.Hasher expected")
	t.raises(function() h.update("x", "y") end, "hash.Hasher expected")
end

return T
