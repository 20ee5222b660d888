// The audit log's append step as Redis Lua, so any script (e.g. an access-request transition)
// can write its state change and its audit event in one atomic EVAL.
//
// Contract for scripts that embed the prelude (`AUDIT_LUA_PRELUDE .. your_body`):
// - The prelude declares exactly two locals and nothing else, and has no top-level `return`:
//     sha256_hex(s) -> 64 lowercase hex chars
//     audit_append(stream_key, head_key, seq_key, event_json) -> {stream_id, seq, hash}
//   Pass the three keys in the order of AUDIT_KEYS (declare them in KEYS, for cluster slots).
// - event_json is stored and hashed byte for byte, and read back through storedEventSchema
//   (schema.ts): a JSON object with all eight fields, `at` the time of recording. Either build
//   it in Node with encodeAuditEvent() (store.ts) and pass it in ARGV, or cjson.encode it in
//   Lua with cjson.null for the null fields (key order and escaping do not matter).
// - Redis does not roll back a script that errors half-way: run every check that can fail
//   before the first write. audit_append itself does not raise for a string event_json.
import { keys } from '../keys.ts';
import { LuaScript } from '../redis.ts';

/** KEYS order audit_append expects: stream, head, seq. */
export const AUDIT_KEYS = [keys.audit.stream, keys.audit.head, keys.audit.seq] as const;

/** prev of the first event: there is no earlier hash. */
export const GENESIS_HASH = '0'.repeat(64);

// SHA-256 (FIPS 180-4) on LuaBitOp, which Redis ships: bit ops return signed 32-bit numbers,
// sums of a few of them stay exact in doubles and bit.tobit wraps them mod 2^32.
// The constants and helpers live inside a do-block so only `sha256_hex` leaks into the script.
const SHA256_LUA = `
local sha256_hex
do
  local band, bor, bxor = bit.band, bit.bor, bit.bxor
  local rshift, lshift, ror, tobit, tohex = bit.rshift, bit.lshift, bit.ror, bit.tobit, bit.tohex
  local byte, char, rep, floor, concat = string.byte, string.char, string.rep, math.floor, table.concat
  local K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  }
  local w = {}

  function sha256_hex(s)
    -- Padding: 0x80, zeros up to 56 mod 64, then the bit length as a 64-bit big-endian number.
    local len = #s
    local bits = len * 8
    local length_bytes = {}
    for i = 8, 1, -1 do
      length_bytes[i] = char(bits % 256)
      bits = floor(bits / 256)
    end
    local msg = s .. "\\128" .. rep("\\0", (55 - len) % 64) .. concat(length_bytes)

    local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
    local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    for block = 1, #msg, 64 do
      for i = 0, 15 do
        local b1, b2, b3, b4 = byte(msg, block + i * 4, block + i * 4 + 3)
        w[i] = bor(lshift(b1, 24), lshift(b2, 16), lshift(b3, 8), b4)
      end
      for i = 16, 63 do
        local x, y = w[i - 15], w[i - 2]
        local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
        local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
        w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
      end
      local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
      for i = 0, 63 do
        -- ch = (e & f) ^ (~e & g) and maj = (a & b) ^ (a & c) ^ (b & c), in fewer calls.
        local t1 = h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(g, band(e, bxor(f, g))) + K[i + 1] + w[i]
        local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bor(band(a, b), band(c, bor(a, b)))
        h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
      end
      h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
      h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
    end
    return tohex(h0, 8) .. tohex(h1, 8) .. tohex(h2, 8) .. tohex(h3, 8) ..
      tohex(h4, 8) .. tohex(h5, 8) .. tohex(h6, 8) .. tohex(h7, 8)
  end
end
`;

// The hashed text is `prev \n seq \n event_json`; chainHash() in store.ts must stay identical.
const APPEND_LUA = `
local function audit_append(stream_key, head_key, seq_key, event_json)
  local seq = redis.call('INCR', seq_key)
  local prev = redis.call('GET', head_key) or '${GENESIS_HASH}'
  local hash = sha256_hex(prev .. "\\n" .. seq .. "\\n" .. event_json)
  local id = redis.call('XADD', stream_key, '*', 'seq', seq, 'prev', prev, 'hash', hash, 'event', event_json)
  redis.call('SET', head_key, hash)
  return {id, seq, hash}
end
`;

/** Lua that defines the locals `sha256_hex` and `audit_append`; prepend it to your script. */
export const AUDIT_LUA_PRELUDE: string = SHA256_LUA + APPEND_LUA;

/** KEYS = AUDIT_KEYS, ARGV[1] = event JSON; returns {stream_id, seq, hash}. */
export const APPEND_SCRIPT = new LuaScript(`${AUDIT_LUA_PRELUDE}
return audit_append(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
`);
