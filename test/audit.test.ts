// The audit log end to end on a real Redis: the chain, queries, tamper detection, concurrent
// appends, the admin CLI and the HTTP API on a real portal. Runs on its own Redis database
// (flushed per test), so other suites' audit events do not interfere.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { keys } from '../server/keys.ts';
import type { RedisClient } from '../server/redis.ts';
import { GENESIS_HASH } from '../server/audit/lua.ts';
import type { AuditEvent, AuditEventInput } from '../server/audit/schema.ts';
import { AuditLog, chainHash, encodeAuditEvent, MAX_SCANNED_PER_QUERY, parseExportLine, verifyChain } from '../server/audit/store.ts';
import { Browserless, loginAs } from './support/http.ts';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { redisDbUrl } from './support/services.ts';
import { approvalEvent, AUDIT_TEST_DB, connectAuditTestRedis } from './support/audit.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

let redisUrl: string;
let redis: RedisClient;
let audit: AuditLog;
let tmp: string;

beforeAll(async () => {
  redisUrl = redisDbUrl(AUDIT_TEST_DB);
  redis = await connectAuditTestRedis();
  audit = new AuditLog(redis);
  tmp = mkdtempSync(path.join(tmpdir(), 'airlock-audit-'));
});

beforeEach(async () => {
  await redis.flushDb();
});

afterAll(async () => {
  await redis?.close();
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
});

const event = approvalEvent;

async function appendMany(n: number, make: (i: number) => AuditEventInput = (i) => event({ details: { i } })): Promise<AuditEvent[]> {
  const appended: AuditEvent[] = [];
  for (let i = 0; i < n; i++) appended.push(await audit.append(make(i)));
  return appended;
}

/**
 * Tampering as an attacker with Redis access would: streams cannot be edited in place, so
 * rebuild the stream with the same ids, replacing some fields of one entry, then swap it in.
 */
const REWRITE_ENTRY_LUA = `
local entries = redis.call('XRANGE', KEYS[1], '-', '+')
redis.call('DEL', KEYS[2])
for _, entry in ipairs(entries) do
  local fields = entry[2]
  if entry[1] == ARGV[1] then
    for i = 1, #fields, 2 do
      for j = 2, #ARGV, 2 do
        if fields[i] == ARGV[j] then fields[i + 1] = ARGV[j + 1] end
      end
    end
  end
  redis.call('XADD', KEYS[2], entry[1], unpack(fields))
end
redis.call('RENAME', KEYS[2], KEYS[1])
`;

async function rewriteEntry(id: string, fields: Record<string, string>): Promise<void> {
  await redis.eval(REWRITE_ENTRY_LUA, { keys: [keys.audit.stream, `${keys.audit.stream}:tamper`], arguments: [id, ...Object.entries(fields).flat()] });
}

async function storedEntry(id: string): Promise<Record<string, string>> {
  const [entry] = await redis.xRange(keys.audit.stream, id, id);
  if (entry === undefined) throw new Error(`no entry ${id}`);
  return entry.message;
}

describe('AuditLog', () => {
  test('50 appends form an intact chain from the genesis hash', async () => {
    const appended = await appendMany(50);
    expect(appended.map((e) => e.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const first = await storedEntry(appended[0]!.id);
    expect(first['prev']).toBe(GENESIS_HASH);
    expect(first['hash']).toBe(chainHash(GENESIS_HASH, '1', first['event']!));
    expect(await redis.get(keys.audit.head)).toBe((await storedEntry(appended[49]!.id))['hash']);
    expect(await audit.verify()).toEqual({ ok: true, checked: 50, firstBroken: null });
  });

  test('an empty log verifies', async () => {
    expect(await audit.verify()).toEqual({ ok: true, checked: 0, firstBroken: null });
  });

  test('append returns the event as the API shows it', async () => {
    const at = new Date().toISOString();
    const appended = await audit.append(event({ at, reason: 'ticket 7', details: { comment: 'ok' } }));
    expect(appended).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), seq: 1, at, ...event({ reason: 'ticket 7', details: { comment: 'ok' } }) });
    expect((await audit.query({})).events).toEqual([appended]);
  });

  describe('query', () => {
    test('newest first, each filter, and the combination', async () => {
      // Events a second apart within the last minute (`at` must be the time of recording).
      const base = Math.floor(Date.now() / 1000) * 1000 - 60_000;
      const at = (second: number): string => new Date(base + second * 1000).toISOString();
      const all = await appendMany(12, (i) =>
        event({
          at: at(i),
          actor: i % 3 === 0 ? { id: 'dev:vera', name: 'Vera Vendor' } : { id: 'dev:ann', name: 'Ann Approver' },
          action: i % 2 === 0 ? 'request.created' : 'request.approved',
          target: { type: 'request', id: `r${i % 4}` },
          site: i < 6 ? 'plant-a' : 'plant-b',
        }),
      );
      const newestFirst = [...all].reverse();
      const ids = async (filters: Parameters<AuditLog['query']>[0]): Promise<number[]> => (await audit.query(filters)).events.map((e) => e.seq);
      const seqs = (pred: (e: AuditEvent) => boolean): number[] => newestFirst.filter(pred).map((e) => e.seq);

      expect(await audit.query({})).toEqual({ events: newestFirst, nextBefore: null });
      expect(await ids({ actor: 'dev:vera' })).toEqual([10, 7, 4, 1]);
      expect(await ids({ action: 'request.approved' })).toEqual(seqs((e) => e.action === 'request.approved'));
      expect(await ids({ site: 'plant-b' })).toEqual([12, 11, 10, 9, 8, 7]);
      expect(await ids({ target: { type: 'request', id: 'r1' } })).toEqual([10, 6, 2]);
      expect(await ids({ target: { type: 'machine', id: 'r1' } })).toEqual([]);
      expect(await ids({ from: new Date(at(3)), to: new Date(at(5)) })).toEqual([6, 5, 4]);
      expect(await ids({ actor: 'dev:ann', site: 'plant-a', action: 'request.created' })).toEqual([5, 3]);
    });

    test('pages with limit and before, without gaps or repeats', async () => {
      const all = await appendMany(25);
      const pages: number[][] = [];
      let before: string | undefined;
      for (;;) {
        const page = await audit.query({ limit: 10, before });
        pages.push(page.events.map((e) => e.seq));
        if (page.nextBefore === null) break;
        before = page.nextBefore;
      }
      expect(pages).toEqual([
        [25, 24, 23, 22, 21, 20, 19, 18, 17, 16],
        [15, 14, 13, 12, 11, 10, 9, 8, 7, 6],
        [5, 4, 3, 2, 1],
      ]);
      expect((await audit.query({ limit: 3, before: all[10]!.id })).events.map((e) => e.seq)).toEqual([10, 9, 8]);
    });

    test('filtered queries read across scan batches and stop at the limit', async () => {
      // 1,100 events, 5 of them by a rare actor: the matches span more than one read batch.
      await Promise.all(
        Array.from({ length: 1_100 }, (_, i) => audit.append(event({ actor: i % 250 === 0 ? { id: 'dev:rare', name: 'Rare' } : { id: 'dev:ann', name: 'Ann' } }))),
      );
      const rare = await audit.query({ actor: 'dev:rare' });
      expect(rare.events).toHaveLength(5);
      expect(rare.nextBefore).toBeNull();
      const firstTwo = await audit.query({ actor: 'dev:rare', limit: 2 });
      expect(firstTwo.events.map((e) => e.id)).toEqual(rare.events.slice(0, 2).map((e) => e.id));
      const rest = await audit.query({ actor: 'dev:rare', limit: 10, before: firstTwo.nextBefore ?? undefined });
      expect(rest.events.map((e) => e.id)).toEqual(rare.events.slice(2).map((e) => e.id));
    });
  });

  test('a query that matches little stops after its scan budget and hands back a cursor', async () => {
    // Entries written directly (the chain is not under test here): appending through Lua would
    // spend seconds hashing.
    const total = MAX_SCANNED_PER_QUERY + 500;
    const eventJson = encodeAuditEvent(event());
    const rareJson = encodeAuditEvent(event({ actor: { id: 'dev:rare', name: 'Rare' } }));
    const multi = redis.multi();
    for (let seq = 1; seq <= total; seq++) {
      multi.xAdd(keys.audit.stream, `1-${seq}`, { seq: String(seq), prev: GENESIS_HASH, hash: GENESIS_HASH, event: seq <= 2 ? rareJson : eventJson });
    }
    await multi.exec();

    const first = await audit.query({ actor: 'dev:rare' });
    expect(first).toEqual({ events: [], nextBefore: `1-${total - MAX_SCANNED_PER_QUERY + 1}` });
    const rest = await audit.query({ actor: 'dev:rare', before: first.nextBefore ?? undefined });
    expect(rest.events.map((e) => e.seq)).toEqual([2, 1]);
    expect(rest.nextBefore).toBeNull();
  });

  describe('tamper detection', () => {
    test('an edited event is reported at exactly its index and id', async () => {
      const appended = await appendMany(50);
      const victim = appended[17]!;
      const stored = await storedEntry(victim.id);
      await rewriteEntry(victim.id, { event: stored['event']!.replace('"outcome":"ok"', '"outcome":"refused"') });
      expect(await audit.verify()).toEqual({ ok: false, checked: 17, firstBroken: { index: 17, id: victim.id, reason: 'hash_mismatch' } });
    });

    test('an edited and re-hashed event breaks the link to the next entry', async () => {
      const appended = await appendMany(20);
      const victim = await storedEntry(appended[5]!.id);
      const forged = victim['event']!.replace('Ann Approver', 'Somebody Else');
      await rewriteEntry(appended[5]!.id, { event: forged, hash: chainHash(victim['prev']!, victim['seq']!, forged) });
      expect((await audit.verify()).firstBroken).toEqual({ index: 6, id: appended[6]!.id, reason: 'prev_mismatch' });
    });

    test('a deleted entry shows as a sequence gap at the entry after it', async () => {
      const appended = await appendMany(30);
      await redis.xDel(keys.audit.stream, appended[12]!.id);
      expect(await audit.verify()).toEqual({ ok: false, checked: 12, firstBroken: { index: 12, id: appended[13]!.id, reason: 'seq_gap' } });
    });

    test('a deleted last entry shows against the head', async () => {
      const appended = await appendMany(10);
      await redis.xDel(keys.audit.stream, appended[9]!.id);
      expect(await audit.verify()).toEqual({ ok: false, checked: 9, firstBroken: { index: 9, id: null, reason: 'head_mismatch' } });
    });

    test('a reset sequence counter shows', async () => {
      await appendMany(3);
      await redis.set(keys.audit.seq, '1');
      expect((await audit.verify()).firstBroken).toEqual({ index: 3, id: null, reason: 'seq_counter_mismatch' });
    });
  });

  test('20 concurrent writers on their own connections keep the chain valid', async () => {
    const WRITERS = 20;
    const EACH = 10;
    const writers = await Promise.all(Array.from({ length: WRITERS }, async () => createClient({ url: redisUrl }).connect()));
    try {
      const results = await Promise.all(
        writers.map(async (client, w) => {
          const log = new AuditLog(client);
          const mine: AuditEvent[] = [];
          for (let i = 0; i < EACH; i++) mine.push(await log.append(event({ details: { w, i } })));
          return mine;
        }),
      );
      const seqs = results.flat().map((e) => e.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: WRITERS * EACH }, (_, i) => i + 1));
      expect(await audit.verify()).toEqual({ ok: true, checked: WRITERS * EACH, firstBroken: null });
    } finally {
      await Promise.all(writers.map((c) => c.close()));
    }
  });
});

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts/airlock.ts'), ...args], { env: { ...process.env, AIRLOCK_REDIS_URL: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('airlock CLI', () => {
  test('audit verify: exit 0 when intact, 2 naming the broken entry', async () => {
    const appended = await appendMany(30);
    const intact = await runCli('audit', 'verify', '--redis', redisUrl);
    expect(intact).toMatchObject({ code: 0, stderr: '' });
    expect(intact.stdout).toMatch(/OK, 30 events checked/);

    const victim = appended[7]!;
    await rewriteEntry(victim.id, { event: (await storedEntry(victim.id))['event']!.replace('plant-a', 'plant-x') });
    const broken = await runCli('audit', 'verify', '--redis', redisUrl);
    expect(broken.code).toBe(2);
    expect(broken.stdout).toContain(`BROKEN at index 7 (stream id ${victim.id}): hash_mismatch`);
  });

  test('usage and connection errors exit 1', async () => {
    expect(await runCli('audit', 'verify')).toMatchObject({ code: 1, stderr: expect.stringContaining('AIRLOCK_REDIS_URL') });
    expect(await runCli('audit', 'frobnicate')).toMatchObject({ code: 1, stderr: expect.stringContaining('usage:') });
    expect(await runCli('audit', 'verify', '--redis', 'redis://127.0.0.1:1')).toMatchObject({ code: 1, stderr: expect.stringContaining('ECONNREFUSED') });
  });

  test('audit export → verify-file round trip; a flipped character is caught', async () => {
    await appendMany(40, (i) => event({ details: { i, note: 'Prüfung für Anlage 7' } }));
    const exported = await runCli('audit', 'export', '--redis', redisUrl);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(40);
    // Every line is plain JSON a SIEM can take, with the event as an object.
    expect(JSON.parse(lines[3]!)).toMatchObject({ seq: 4, event: { action: 'request.approved', details: { i: 3 } } });

    const file = path.join(tmp, 'audit.ndjson');
    writeFileSync(file, exported.stdout);
    const ok = await runCli('audit', 'verify-file', file);
    expect(ok).toMatchObject({ code: 0, stdout: expect.stringContaining('OK, 40 events checked') });

    const flipped = lines.map((line, i) => (i === 22 ? line.replace('"i":22', '"i":23') : line));
    writeFileSync(file, `${flipped.join('\n')}\n`);
    const broken = await runCli('audit', 'verify-file', file);
    expect(broken.code).toBe(2);
    expect(broken.stdout).toContain(`BROKEN at index 22 (stream id ${parseExportLine(lines[22]!).id}): hash_mismatch`);
  });
});

describe('audit routes on a real portal', () => {
  // The portal runs on this suite's database; the per-test flush drops its sessions, so each
  // test signs in afresh through the dev IdP (vera: vendor, mona: approver, aude: auditor, adam: admin).
  let portal: TestPortal;

  beforeAll(async () => {
    portal = await startTestPortal({ AIRLOCK_REDIS_URL: redisUrl });
  });

  afterAll(async () => {
    await portal?.close();
  });

  const as = (username: string): Promise<Browserless> => loginAs(portal.publicUrl, username);

  test('401 when signed out, 403 for vendors and approvers, on every audit route', async () => {
    const anonymous = new Browserless(portal.publicUrl);
    const vendor = await as('vera');
    const approver = await as('mona');
    for (const route of ['/api/audit', '/api/audit/verify', '/api/audit/export']) {
      const res = await anonymous.get(route);
      expect([route, res.status, res.json()]).toEqual([route, 401, { error: { code: 'unauthenticated', message: expect.any(String) } }]);
      for (const agent of [vendor, approver]) {
        const refused = await agent.get(route);
        expect([route, refused.status, refused.json()]).toEqual([route, 403, { error: { code: 'forbidden', message: expect.any(String) } }]);
      }
    }
    // Refusals change nothing: no export or verification was recorded.
    expect(await redis.xLen(keys.audit.stream)).toBe(0);
  });

  test('auditors and admins query the log', async () => {
    await appendMany(5, (i) => event({ site: i < 2 ? 'plant-a' : 'plant-b' }));
    for (const who of ['aude', 'adam']) {
      const res = await (await as(who)).get('/api/audit?site=plant-b&limit=2');
      expect(res.status).toBe(200);
      const body = res.json<{ events: AuditEvent[]; nextBefore: string | null }>();
      expect(body.events.map((e) => [e.seq, e.site])).toEqual([[5, 'plant-b'], [4, 'plant-b']]);
      expect(body.nextBefore).toBe(body.events[1]?.id);
    }
  });

  test('400 invalid_input naming the parameter', async () => {
    const auditor = await as('aude');
    const cases: [string, RegExp][] = [
      ['?actr=dev:ann', /unknown query parameter actr/],
      ['?limit=501', /limit/],
      ['?limit=0', /limit/],
      ['?target=r1', /target/],
      ['?from=yesterday', /from/],
      ['?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', /from/],
      ['?before=abc', /before/],
      ['?site=a&site=b', /site/],
    ];
    for (const [query, message] of cases) {
      const res = await auditor.get(`/api/audit${query}`);
      expect([query, res.status, res.json()]).toEqual([query, 400, { error: { code: 'invalid_input', message: expect.stringMatching(message) } }]);
    }
  });

  test('verify answers the chain state and is itself recorded', async () => {
    await appendMany(4);
    const auditor = await as('aude');
    const me = (await auditor.get('/api/me')).json<{ user: { id: string; name: string } }>().user;
    const res = await auditor.get('/api/audit/verify');
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true, checked: 4, firstBroken: null });
    const [recorded] = (await audit.query({ limit: 1 })).events;
    expect(recorded).toMatchObject({ seq: 5, action: 'audit.verified', actor: { id: me.id, name: me.name }, details: { ok: true, checked: 4, firstBroken: null } });
  });

  test('verify names the first broken link', async () => {
    const appended = await appendMany(6);
    await redis.xDel(keys.audit.stream, appended[2]!.id);
    const res = await (await as('adam')).get('/api/audit/verify');
    expect(res.json()).toEqual({ ok: false, checked: 2, firstBroken: { index: 2, id: appended[3]!.id, reason: 'seq_gap' } });
  });

  test('export streams NDJSON oldest first, ending with its own audit event, verifiable offline', async () => {
    await appendMany(8);
    const res = await (await as('adam')).get('/api/audit/export');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(res.text.endsWith('\n')).toBe(true);
    const lines = res.text.trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(JSON.parse(lines[8]!)).toMatchObject({ event: { action: 'audit.exported', actor: { name: 'Adam Admin' } } });
    expect(await verifyChain(lines.map(parseExportLine))).toEqual({ ok: true, checked: 9, firstBroken: null });
    // The same links the stream holds, so an archived export can be compared with the live log.
    const stream = await redis.xRange(keys.audit.stream, '-', '+');
    expect(lines.map((l) => parseExportLine(l).hash)).toEqual(stream.map((e) => e.message['hash']));
  });
});
