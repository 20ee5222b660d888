// The Lua side of the audit chain, run through a real Redis EVAL: the pure-Lua SHA-256 must
// equal node:crypto's, and the prelude must embed into another script as documented.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { approvalEvent, connectAuditTestRedis } from '../../test/support/audit.ts';
import type { RedisClient } from '../redis.ts';
import { AUDIT_KEYS, AUDIT_LUA_PRELUDE, GENESIS_HASH } from './lua.ts';
import { AuditLog, chainHash, encodeAuditEvent } from './store.ts';

let redis: RedisClient;

beforeAll(async () => {
  redis = await connectAuditTestRedis();
});

beforeEach(async () => {
  await redis.flushDb();
});

afterAll(async () => {
  await redis.close();
});

const luaSha256 = async (s: string): Promise<unknown> => redis.eval(`${AUDIT_LUA_PRELUDE}\nreturn sha256_hex(ARGV[1])`, { arguments: [s] });
const nodeSha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

describe('sha256_hex in Redis Lua', () => {
  // Lengths around the padding boundaries: 55 bytes is the most that fits one block with its
  // length, 56–63 spill into a second block, 64/65 fill and overflow a whole block.
  const inputs: [string, string][] = [
    ['empty', ''],
    ['abc', 'abc'],
    ['55 bytes', 'a'.repeat(55)],
    ['56 bytes', 'b'.repeat(56)],
    ['63 bytes', 'c'.repeat(63)],
    ['64 bytes', 'd'.repeat(64)],
    ['65 bytes', 'e'.repeat(65)],
    ['multi-KB', Array.from({ length: 700 }, (_, i) => `line ${i};`).join('')],
    ['non-ASCII UTF-8', 'Grüße, 工厂 ⚙️ 😀 — ñ'],
    ['every byte value', String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))],
  ];

  test.each(inputs)('%s equals node:crypto', async (_name, input) => {
    expect(await luaSha256(input)).toBe(nodeSha256(input));
  });

  test('the FIPS 180-2 two-block vector', async () => {
    expect(await luaSha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    );
  });
});

describe('AUDIT_LUA_PRELUDE embedded in another script', () => {
  test('a state change and its audit event land in one EVAL, and the chain stays valid', async () => {
    const audit = new AuditLog(redis);
    await audit.append({ actor: null, action: 'system.started', target: null, outcome: 'ok', reason: null, details: {}, site: null });
    const transition = `${AUDIT_LUA_PRELUDE}
redis.call('SET', KEYS[4], ARGV[2])
return audit_append(KEYS[1], KEYS[2], KEYS[3], ARGV[1])`;
    const eventJson = encodeAuditEvent(approvalEvent({ actor: { id: 'dev:ann', name: 'Ann' } }));
    const reply = await redis.eval(transition, { keys: [...AUDIT_KEYS, 'test:request:r1'], arguments: [eventJson, 'approved'] });

    const [first, second] = await redis.xRange(AUDIT_KEYS[0], '-', '+');
    expect(reply).toEqual([second?.id, 2, second?.message['hash']]);
    expect(first?.message['prev']).toBe(GENESIS_HASH);
    expect(second?.message).toEqual({
      seq: '2',
      prev: first?.message['hash'],
      hash: chainHash(first?.message['hash'] ?? '', '2', eventJson),
      event: eventJson,
    });
    expect(await redis.get('test:request:r1')).toBe('approved');
    expect(await redis.get(AUDIT_KEYS[1])).toBe(second?.message['hash']);
    expect(await audit.verify()).toEqual({ ok: true, checked: 2, firstBroken: null });
  });

  test('appending still works after the script cache is flushed (NOSCRIPT fallback)', async () => {
    const audit = new AuditLog(redis);
    const input = { actor: null, action: 'system.started', target: null, outcome: 'ok', reason: null, details: {}, site: null } as const;
    await audit.append(input);
    await redis.scriptFlush();
    expect((await audit.append(input)).seq).toBe(2);
  });
});
