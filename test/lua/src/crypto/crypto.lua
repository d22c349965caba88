-- test.crypto: require("crypto"), the original runtime's API: random,
-- hmac, encrypt/decrypt (AES-GCM, ChaCha20-Poly1305), jwt, pbkdf2 and
-- constant_time_compare. Known vectors: the GCM specification's test
-- cases 3 and 4 and RFC 8439 section 2.8.2 (opened from their fixed
-- nonces, since sealing picks a random one), RFC 4231 HMACs, RFC 7515
-- appendix A tokens (HS256, RS256, ES256), and tokens computed
-- independently for the exact bytes encode must produce.
local t = require("t")
local crypto = require("crypto")
local K = require("keys")

local T = {}

local function unhex(s)
	return (s:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end))
end

local function tohex(s)
	return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function invalid(msg, v, err)
	local e = t.err(v, err, errors.INVALID)
	t.eq(e:retryable(), false, "retryable")
	t.eq(e:message(), msg, "message")
end

local function internal(text, v, err)
	local e = t.err(v, err, errors.INTERNAL)
	t.eq(e:retryable(), false, "retryable")
	t.contains(e:message(), text)
	return e
end

-- {==== random ====}

function T.random_bytes()
	local b, err = crypto.random.bytes(32)
	t.is_nil(err)
	t.eq(#b, 32)
	t.ok(crypto.random.bytes(32) ~= b, "two draws differ")
	t.eq(#crypto.random.bytes(1), 1)
	t.eq(#crypto.random.bytes(100000), 100000)
	invalid("length must be a positive integer", crypto.random.bytes(0))
	invalid("length must be a positive integer", crypto.random.bytes(-3))
	t.raises(function() crypto.random.bytes("ten") end, "number expected")
	t.raises(function() crypto.random.bytes(1.5) end, "number has no integer representation")
end

function T.random_string()
	local s, err = crypto.random.string(64)
	t.is_nil(err)
	t.eq(#s, 64)
	t.match(s, "^[A-Za-z0-9]+$")
	local hex = crypto.random.string(200, "0123456789abcdef")
	t.match(hex, "^[0-9a-f]+$")
	t.eq(crypto.random.string(10, "x"), "xxxxxxxxxx")
	-- A non-string charset means the default, as the original reads it.
	t.match(crypto.random.string(20, 5), "^[A-Za-z0-9]+$")
	invalid("charset cannot be empty", crypto.random.string(5, ""))
	invalid("length must be a positive integer", crypto.random.string(0))
	t.raises(function() crypto.random.string() end, "number expected")
end

function T.random_uuid()
	local seen = {}
	for _ = 1, 50 do
		local id, err = crypto.random.uuid()
		t.is_nil(err)
		t.match(id, "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$")
		t.ok(not seen[id], "duplicate")
		seen[id] = true
	end
end

-- }====

function T.hmac_key_first()
	-- Key first, data second (hash.hmac_* take data first); hex out.
	t.eq(crypto.hmac.sha256(string.rep("\x0b", 20), "Hi There"),
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
	t.eq(crypto.hmac.sha512("Jefe", "what do ya want for nothing?"),
		"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
		.. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737")
	invalid("key cannot be empty", crypto.hmac.sha256("", "data"))
	invalid("key cannot be empty", crypto.hmac.sha512("", "data"))
	t.raises(function() crypto.hmac.sha256(nil, "x") end, "string expected")
	t.raises(function() crypto.hmac.sha256("k") end, "string expected")
end

-- {==== AEAD ====}

local GCM_K = unhex("feffe9928665731c6d6a8f9467308308")
local GCM_P = unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	.. "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
-- nonce || ciphertext || tag, from the GCM specification.
local GCM3 = unhex("cafebabefacedbaddecaf888"
	.. "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	.. "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
	.. "4d5c2af327cd64a62cf35abd2ba6fab4")
local GCM4 = unhex("cafebabefacedbaddecaf888"
	.. "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
	.. "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
	.. "5bc94fbc3221a5db94fae95ae7121a47")
local GCM4_AAD = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")

function T.aes_gcm_known_vectors()
	local p, err = crypto.decrypt.aes(GCM3, GCM_K)
	t.is_nil(err)
	t.eq(tohex(p), tohex(GCM_P), "GCM test case 3")
	local p4, err4 = crypto.decrypt.aes(GCM4, GCM_K, GCM4_AAD)
	t.is_nil(err4)
	t.eq(p4, GCM_P:sub(1, 60), "GCM test case 4 (with AAD)")
	-- Test case 4 without its AAD, or with other AAD, fails.
	internal("cipher: message authentication failed", crypto.decrypt.aes(GCM4, GCM_K))
	internal("cipher: message authentication failed",
		crypto.decrypt.aes(GCM4, GCM_K, GCM4_AAD .. "x"))
end

function T.chacha20_known_vector()
	local key = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
	local sealed = unhex("070000004041424344454647"
		.. "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
		.. "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
		.. "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
		.. "3ff4def08e4b7a9de576d26586cec64b6116"
		.. "1ae10b594f09e26a7e902ecbd0600691")
	local aad = unhex("50515253c0c1c2c3c4c5c6c7")
	local p, err = crypto.decrypt.chacha20(sealed, key, aad)
	t.is_nil(err)
	t.eq(p, "Ladies and Gentlemen of the class of '99: If I could offer you only one "
		.. "tip for the future, sunscreen would be it.")
	internal("chacha20poly1305: message authentication failed",
		crypto.decrypt.chacha20(sealed, key))
end

function T.aead_roundtrip_and_layout()
	for _, klen in ipairs({16, 24, 32}) do
		local key = crypto.random.bytes(klen)
		for _, msg in ipairs({"", "x", string.rep("secret ", 1000)}) do
			local sealed, err = crypto.encrypt.aes(msg, key)
			t.is_nil(err)
			t.eq(#sealed, 12 + #msg + 16, "nonce || ciphertext || tag")
			t.eq(crypto.decrypt.aes(sealed, key), msg)
			t.ok(crypto.encrypt.aes(msg, key) ~= sealed, "a fresh nonce each time")
		end
		local withaad = crypto.encrypt.aes("m", key, "context")
		t.eq(crypto.decrypt.aes(withaad, key, "context"), "m")
	end
	local ck = crypto.random.bytes(32)
	local sealed = crypto.encrypt.chacha20("payload", ck, "aad")
	t.eq(#sealed, 12 + 7 + 16)
	t.eq(crypto.decrypt.chacha20(sealed, ck, "aad"), "payload")
	-- A key derived with pbkdf2 works as an AES key.
	local dk = crypto.pbkdf2("master_secret", "salt", 1000, 32)
	t.eq(crypto.decrypt.aes(crypto.encrypt.aes("token", dk), dk), "token")
end

function T.aead_tamper_detection()
	local key = crypto.random.bytes(32)
	local sealed = crypto.encrypt.aes("attack at dawn", key, "hdr")
	for i = 1, #sealed do
		local b = sealed:byte(i)
		local bad = sealed:sub(1, i - 1) .. string.char(b ~ 1) .. sealed:sub(i + 1)
		local p, err = crypto.decrypt.aes(bad, key, "hdr")
		t.is_nil(p, "flipped byte " .. i)
		t.eq(err:kind(), errors.INTERNAL)
		t.eq(err:message(), "cipher: message authentication failed")
	end
	internal("cipher: message authentication failed",
		crypto.decrypt.aes(sealed, crypto.random.bytes(32), "hdr"))
	internal("cipher: message authentication failed", crypto.decrypt.aes(sealed:sub(1, -2), key, "hdr"))
	internal("cipher: message authentication failed", crypto.decrypt.aes(sealed:sub(1, 20), key, "hdr"))
	local cs = crypto.encrypt.chacha20("attack at dawn", key)
	local flipped = cs:sub(1, 15) .. string.char(cs:byte(16) ~ 0x80) .. cs:sub(17)
	internal("chacha20poly1305: message authentication failed", crypto.decrypt.chacha20(flipped, key))
	-- AES and ChaCha20 outputs are not interchangeable.
	internal("authentication failed", crypto.decrypt.chacha20(sealed, key, "hdr"))
end

function T.aead_errors()
	for _, n in ipairs({0, 8, 15, 17, 31, 33}) do
		invalid("key must be 16, 24, or 32 bytes", crypto.encrypt.aes("d", string.rep("k", n)))
		invalid("key must be 16, 24, or 32 bytes", crypto.decrypt.aes(string.rep("d", 40), string.rep("k", n)))
	end
	invalid("key must be 32 bytes", crypto.encrypt.chacha20("d", string.rep("k", 16)))
	invalid("key must be 32 bytes", crypto.decrypt.chacha20(string.rep("d", 40), "short"))
	invalid("encrypted data too short", crypto.decrypt.aes("short", string.rep("k", 16)))
	invalid("encrypted data too short", crypto.decrypt.chacha20("", string.rep("k", 32)))
	t.raises(function() crypto.encrypt.aes(nil, string.rep("k", 16)) end, "string expected")
	t.raises(function() crypto.decrypt.aes("x", nil) end, "string expected")
	t.raises(function() crypto.encrypt.chacha20({}, "k") end, "string expected")
end

-- }====

function T.pbkdf2_and_compare()
	t.eq(tohex(crypto.pbkdf2("passwd", "salt", 1, 16)), "55ac046e56e3089fec1691c22544b605")
	t.eq(#crypto.pbkdf2("pw", "salt", 10, 48, "sha512"), 48)
	invalid("unsupported hash function: sha1", crypto.pbkdf2("pw", "salt", 1, 16, "sha1"))
	invalid("password cannot be empty", crypto.pbkdf2("", "salt", 1, 16))
	t.eq(crypto.constant_time_compare("abc", "abc"), true)
	t.eq(crypto.constant_time_compare("abc", "abd"), false)
	t.eq(crypto.constant_time_compare("abc", "abcd"), false)
	t.eq(crypto.constant_time_compare("", ""), true)
	t.eq(crypto.constant_time_compare("a\0b", "a\0c"), false)
	t.eq(select("#", crypto.constant_time_compare("a", "a")), 1)
	t.raises(function() crypto.constant_time_compare("a") end, "string expected")
end

-- {==== JWT ====}

local CLAIMS = {sub = "1234567890", name = "John Doe", iat = 1516239022}

function T.jwt_encode_exact_bytes()
	-- Keys sorted, compact JSON, unpadded base64url: the bytes Go writes.
	local tok, err = crypto.jwt.encode(CLAIMS, "your-256-bit-secret")
	t.is_nil(err)
	t.eq(tok, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm5hbWUiOiJKb2huIERvZSIsInN1YiI6"
		.. "IjEyMzQ1Njc4OTAifQ.fdOPQ05ZfRhkST2-rIWgUpbqUsVhkkNVNcuG7Ki0s-8")
	-- _header goes to the header, not the claims.
	local p = {sub = "1234567890", name = "John Doe", iat = 1516239022, _header = {kid = "k1"}}
	t.eq(crypto.jwt.encode(p, "your-256-bit-secret", "HS512"),
		"eyJhbGciOiJIUzUxMiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJpYXQiOjE1MTYyMzkwMjIsIm5hbWUiOiJKb2huIERvZSIs"
		.. "InN1YiI6IjEyMzQ1Njc4OTAifQ.dt6vAxug62wAi3tdZywj5U0sdbPWbphwyxiMgokF3aOwEWBmUuE6MQSzukhPJiT8JlC-KCPbGG1wD5Cwwnhg1A")
	-- RSASSA-PKCS1-v1_5 is deterministic: the exact token, from either key form.
	local want = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE1MTYyMzkwMjIsIm5hbWUiOiJKb2huIERvZSIsInN1YiI6IjEy"
		.. "MzQ1Njc4OTAifQ.Pmg4Kgh9NZZdQVKRgYkjbispuYbOfvB5JSj1Y404kqHrE5FfDjkcOAOs03wmdKE17jUWN0l_0XUVkdwDh9e1rz0E"
		.. "kzLzMeU1UamWL0kWG_Lw6uA-4NJJrSJ4YCZC6I66R_oweM4jnMJe3iyBlyiGBJKkR6LGeh3hDsw0bFCmcoG98NZNWTSi5VqNL1xiF3"
		.. "3hI9mjTvczJuxl6ZetGlVdhACDwYQhgUEOSaSZZMeCE3ya12TUXkVlqiXX9mr5ETrZ8BFYldm-PPs44HYb7D0hArgg1qPe35G-lUrk"
		.. "2nM-25SiyjZUJc043FI0VhmHC-GZNo9lN0Vsfzxn3CFUJam8sA"
	t.eq(crypto.jwt.encode(CLAIMS, K.RSA_PRIV_PKCS1, "RS256"), want, "PKCS#1 key")
	t.eq(crypto.jwt.encode(CLAIMS, K.RSA_PRIV_PKCS8, "RS256"), want, "PKCS#8 key")
	-- The empty payload is the object {}.
	t.eq(crypto.jwt.encode({}, "k"), "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.sdq8hlcnGupCQofW8T3WXS8lMHPKjY78f7plDHoTsoI")
end

function T.jwt_rfc7515_tokens()
	-- Appendix A tokens carry exp 1300819380 (2011): the signature checks,
	-- then the time claim fails, which golang-jwt tests after the signature.
	local claims = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	local hs = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." .. claims .. ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	local hkey = require("base64").decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ+EstJQLr/T+1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow==")
	internal("token has invalid claims: token is expired", crypto.jwt.verify(hs, hkey))
	internal("token signature is invalid", crypto.jwt.verify(hs, hkey .. "x"))
	local rs = "eyJhbGciOiJSUzI1NiJ9." .. claims .. ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7"
		.. "AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArL"
		.. "IARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2"
		.. "w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	internal("token has invalid claims: token is expired", crypto.jwt.verify(rs, K.RSA_PUB, "RS256"))
	internal("token has invalid claims: token is expired", crypto.jwt.verify(rs, K.RSA_CERT, "RS256"))
	internal("token signature is invalid: crypto/rsa: verification error",
		crypto.jwt.verify(rs, K.OTHER_RSA_PUB, "RS256"))
	local es = "eyJhbGciOiJFUzI1NiJ9." .. claims
		.. ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	internal("token has invalid claims: token is expired", crypto.jwt.verify(es, K.EC_PUB, "ES256"))
	internal("token signature is invalid: crypto/ecdsa: verification error",
		crypto.jwt.verify(es:sub(1, -3) .. "AA", K.EC_PUB, "ES256"))
end

function T.jwt_roundtrip()
	for _, c in ipairs({
		{"HS256", "secret", "secret"}, {"HS384", "a-more-secure-key", "a-more-secure-key"},
		{"HS512", "k", "k"}, {"RS256", K.RSA_PRIV_PKCS8, K.RSA_PUB}, {"RS384", K.RSA_PRIV_PKCS1, K.RSA_CERT},
		{"RS512", K.RSA_PRIV_PKCS8, K.RSA_PUB}, {"ES256", K.EC_PRIV, K.EC_PUB}, {"ES384", K.P384_PRIV, K.P384_PUB},
	}) do
		local payload = {
			sub = "user123", admin = true, n = 42, f = 1.5, exp = os.time() + 3600,
			user = {id = 123, roles = {"admin", "user"}},
		}
		local tok, err = crypto.jwt.encode(payload, c[2], c[1])
		t.is_nil(err, c[1])
		t.match(tok, "^[%w_-]+%.[%w_-]+%.[%w_-]+$")
		local claims, verr = crypto.jwt.verify(tok, c[3], c[1])
		t.is_nil(verr, c[1])
		t.eq(claims.sub, "user123")
		t.eq(claims.admin, true)
		t.eq(claims.n, 42)
		t.eq(claims.f, 1.5)
		t.deq(claims.user.roles, {"admin", "user"})
		t.eq(claims.user.id, 123)
		-- Any changed byte of the signing input breaks the signature.
		local body = tok:match("^[^.]+%.([^.]+)%.")
		local forged = tok:gsub(body, (crypto.jwt.encode({sub = "root"}, "x"):match("^[^.]+%.([^.]+)%.")), 1)
		internal("token signature is invalid", crypto.jwt.verify(forged, c[3], c[1]))
	end
	-- The default algorithm is HS256 on both sides.
	local claims = crypto.jwt.verify(crypto.jwt.encode({sub = "1234", name = "Test"}, "secret"), "secret")
	t.eq(claims.name, "Test")
end

function T.jwt_time_claims()
	local future = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6IngifQ.fT_wKnhR8QZJS1xmFsBgsMskzwZNk3WpaYIHUZ0DkdM"
	local c, err = crypto.jwt.verify(future, "k", "HS256", true)
	t.is_nil(err)
	t.eq(c.exp, 4102444800)
	local nbf = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjQxMDI0NDQ4MDAsInN1YiI6IngifQ.OUUWtkf0JCEyrDxSAhX0HdyuY1t_QLPRayTMd9cuVuU"
	internal("token has invalid claims: token is not valid yet", crypto.jwt.verify(nbf, "k"))
	local strexp = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOiJzb29uIn0.WeZWScgve9miYo3Bk7BvVlSeg307Ze6yzviZk5gSzBg"
	internal("exp is invalid", crypto.jwt.verify(strexp, "k"))
	local past = crypto.jwt.encode({exp = os.time() - 10}, "k")
	internal("token is expired", crypto.jwt.verify(past, "k"))
	-- Without exp a token is valid, unless require_exp is set.
	local noexp = crypto.jwt.encode({sub = "x"}, "k")
	t.eq(crypto.jwt.verify(noexp, "k").sub, "x")
	internal("token is missing required claim: exp claim is required",
		crypto.jwt.verify(noexp, "k", "HS256", true))
end

function T.jwt_verify_errors()
	local tok = crypto.jwt.encode({sub = "1234567890", name = "John Doe"}, "secret")
	local e = internal("signature is invalid", crypto.jwt.verify(tok, "wrong-secret"))
	t.eq(e:message(), "token signature is invalid: signature is invalid")
	internal("unexpected signing method: HS256", crypto.jwt.verify(tok, "secret", "HS384"))
	internal("unexpected signing method: HS256", crypto.jwt.verify(tok, K.RSA_PUB, "RS256"))
	internal("could not base64 decode signature", crypto.jwt.verify(tok .. "tampered!", "secret"))
	internal("could not base64 decode signature", crypto.jwt.verify(tok .. "AA", "secret"))
	internal("token contains an invalid number of segments", crypto.jwt.verify("not.a.valid.token", "secret"))
	internal("token contains an invalid number of segments", crypto.jwt.verify("", "secret"))
	internal("token contains an invalid number of segments", crypto.jwt.verify("a.b", "secret"))
	internal("could not base64 decode header", crypto.jwt.verify("@@.e30.", "secret"))
	internal("could not JSON decode header", crypto.jwt.verify("bm90anNvbg.e30.", "secret"))
	internal("could not JSON decode claim",
		crypto.jwt.verify("eyJhbGciOiJIUzI1NiJ9.WzEsMl0.-8Q6C3PmCWEf2IWwvf7kg2Kpwa5qp1PNcNZEoL-FuRA", "k"))
	internal("signing method (alg) is unavailable", crypto.jwt.verify("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "k", "none"))
	internal("signing method (alg) is unspecified", crypto.jwt.verify("e30.e30.", "k"))
	internal("key cannot be empty", crypto.jwt.verify(tok, ""))
	-- Keys of the wrong kind or shape for the algorithm.
	local rs = crypto.jwt.encode({sub = "x"}, K.RSA_PRIV_PKCS8, "RS256")
	internal("failed to parse PEM block containing public key", crypto.jwt.verify(rs, "not a pem", "RS256"))
	internal("key is not an RSA public key", crypto.jwt.verify(rs, K.EC_PUB, "RS256"))
	internal("failed to parse public key", crypto.jwt.verify(rs, "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "RS256"))
	local es = crypto.jwt.encode({sub = "x"}, K.EC_PRIV, "ES256")
	internal("not an ECDSA public key", crypto.jwt.verify(es, K.P384_PUB, "ES256"))
	internal("not an ECDSA public key", crypto.jwt.verify(es, K.RSA_PUB, "ES256"))
	-- Argument types raise, as the original's CheckString does.
	t.raises(function() crypto.jwt.verify(nil, "key") end, "string expected")
	t.raises(function() crypto.jwt.verify("token", nil) end, "string expected")
end

function T.jwt_encode_errors()
	invalid("failed to convert payload to map", crypto.jwt.encode({1, 2, 3}, "k"))
	invalid("unsupported signing algorithm: HS999", crypto.jwt.encode({}, "k", "HS999"))
	invalid("unsupported signing algorithm: none", crypto.jwt.encode({}, "k", "none"))
	invalid("key cannot be empty", crypto.jwt.encode({}, ""))
	invalid("invalid RSA private key: failed to parse PEM block containing private key",
		crypto.jwt.encode({}, "secret", "RS256"))
	invalid("invalid RSA private key: key is not an RSA private key", crypto.jwt.encode({}, K.EC_PRIV, "RS256"))
	invalid("invalid RSA private key: failed to parse private key", crypto.jwt.encode({}, K.RSA_PUB, "RS256"))
	invalid("invalid RSA private key: failed to parse private key", crypto.jwt.encode({}, K.ENC_PRIV, "RS256"))
	invalid("invalid ECDSA private key: key is not an ECDSA private key on the algorithm's curve",
		crypto.jwt.encode({}, K.P384_PRIV, "ES256"))
	local cyc = {}
	cyc.self = cyc
	local v, err = crypto.jwt.encode({data = cyc}, "k")
	t.err(v, err, errors.INVALID, "failed to convert payload to map")
	t.raises(function() crypto.jwt.encode(nil, "key") end, "table expected")
	t.raises(function() crypto.jwt.encode({}, nil) end, "string expected")
	-- A _header that is not a map stays a claim.
	local tok = crypto.jwt.encode({_header = {"x"}}, "k")
	t.deq(crypto.jwt.verify(tok, "k")._header, {"x"})
end

-- }====

return T
