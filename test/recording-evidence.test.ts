// Evidence that cannot be swapped (issue 11, "Evidence"): a recording copied into another
// session's folder, moved, or deleted is reported by the API, the CLI and the evidence bundle;
// the search index holds no word of what was typed (a secret at a `read -s` prompt included)
// yet still finds it; finalising resumes after a crash, releases its lock when it fails, and
// the orphan sweep cannot take a session its own instance is ending.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setImmediate as nextTick } from 'node:timers/promises';
import { createClient } from 'redis';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAll } from './support/http.ts';
import { createRequest, sessionTicket, seedDemoPlant, windowFromNow } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { writeSigningKeys } from './support/signing.ts';
import { redisDbUrl } from './support/services.ts';
import { keys } from '../server/keys.ts';
import { storeDir } from '../recordings/layout.ts';
import type { RecordingSummary } from '../recordings/catalog.ts';
import type { RecordingView } from '../recordings/presenter.ts';
import type { RecordingVerification } from '../recordings/manifest.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

const DB = 7;
const AIRLOCK_CLI = path.resolve(import.meta.dirname, '../scripts/airlock.ts');
/** An instance that heartbeats for as long as the suite runs: the portal's sweep leaves its spool sessions alone. */
const ALIVE_INSTANCE = 'evidence-test-alive-instance';

let work: string;
let spool: string;
let store: string;
let pubFile: string;
let portal: TestPortal;
let redis: ReturnType<typeof createClient>;
/** Signed in: the vendors, the plant managers, the auditor. */
let vera: Browserless, victor: Browserless, mona: Browserless, olga: Browserless, bruno: Browserless, aude: Browserless;

interface Recorded {
  requestId: string;
  sessionId: string;
  summary: RecordingSummary;
}

const agents = (): Record<string, Browserless> => ({ vera, victor, mona, olga, bruno });

/** A granted request (approved by `approvers`) for `vendor` on `machineId`. */
async function grant(vendorName: string, machineId: string, approvers: string[]): Promise<string> {
  const vendor = agents()[vendorName] as Browserless;
  const requestId = await createRequest(vendor, { machineId, ...windowFromNow(1_200, 600_000) });
  for (const name of approvers) expect((await (agents()[name] as Browserless).post(`/api/requests/${requestId}/approve`, {})).status).toBe(200);
  await waitFor(async () => (await portal.services.requests.grantFor(`dev:${vendorName}`, machineId))?.requestId === requestId, { timeoutMs: 5_000, what: 'the grant' });
  return requestId;
}

/**
 * Runs a session under the grant that types each of `lines` (each after a prompt on terminals),
 * closes it (`whileClosing` runs meanwhile), and waits for its recording to be indexed.
 */
async function record(vendorName: string, requestId: string, machineId: string, lines: string[], whileClosing?: (sessionId: string) => Promise<void>): Promise<Recorded> {
  const vendor = agents()[vendorName] as Browserless;
  const { ticket, id } = await sessionTicket(vendor, requestId);
  const result = await openTunnel(vendor, { ticket });
  if (!result.ok) throw new Error(`refused ${result.status}`);
  await result.tunnel.firstFrame();
  const terminal = machineId === 'cnc-07';
  const typescript = path.join(spool, `${id}.typescript`);
  if (terminal) await waitFor(() => existsSync(typescript) && /[$#] $/m.test(readFileSync(typescript, 'utf8')), { timeoutMs: 20_000, what: 'a prompt' });
  for (const [i, line] of lines.entries()) {
    // The terminal buffers what is typed ahead (a line typed before `read -s` runs is read by it).
    result.tunnel.typeText(`${line}\n`);
    await waitFor(() => (readFileSync(path.join(spool, `${id}.events.jsonl`), 'utf8').match(/"keysym":65293,"pressed":true/g) ?? []).length > i, { timeoutMs: 5_000, what: 'Enter in the input log' });
  }
  if (terminal) await waitFor(() => readFileSync(typescript, 'utf8').includes('evidence-done'), { timeoutMs: 10_000, what: 'the last command to run' });
  const closing = whileClosing?.(id);
  await result.tunnel.close();
  let listed: RecordingView | undefined;
  await waitFor(async () => {
    listed = (await aude.get(`/api/recordings?request=${requestId}`)).json<{ recordings: RecordingView[] }>().recordings.find((r) => r.sessionId === id);
    return listed !== undefined;
  }, { timeoutMs: 15_000, what: 'the recording to be finalised' });
  await closing;
  const summary = await portal.services.recordings.catalog.get(id);
  if (summary === undefined) throw new Error('not indexed');
  return { requestId, sessionId: id, summary };
}

const folder = (r: Recorded): string => path.join(store, r.summary.dir);
const verification = async (id: string): Promise<RecordingVerification> => (await aude.get(`/api/recordings/${id}/verify`)).json<{ verification: RecordingVerification }>().verification;
const finalisedEvents = async (sessionId: string): Promise<AuditEvent[]> =>
  (await aude.get(`/api/audit?action=recording.finalised&target=session:${sessionId}&limit=100`)).json<{ events: AuditEvent[] }>().events;

function cli(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [AIRLOCK_CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
const verifyStoreCli = (withRedis: boolean) => cli('recordings', 'verify', '--store', store, '--public-key', pubFile, ...(withRedis ? ['--redis', redisDbUrl(DB)] : []));

async function bundleOf(requestId: string): Promise<string> {
  const res = await fetch(new URL(`/api/requests/${requestId}/bundle`, portal.publicUrl), { headers: { cookie: aude.cookieHeader() } });
  expect(res.status).toBe(200);
  const file = path.join(work, `bundle-${requestId}.tar.gz`);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'airlock-evidence-test-'));
  spool = path.join(work, 'spool');
  store = path.join(work, 'store');
  const signing = writeSigningKeys(work);
  pubFile = signing.pubFile;
  portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_STORE: store, AIRLOCK_SIGNING_KEY_FILE: signing.keyFile, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: DB });
  await seedDemoPlant(portal, { targets: true });
  redis = createClient({ url: redisDbUrl(DB) });
  await redis.connect();
  await redis.set(keys.sessions.instance(ALIVE_INSTANCE), 'alive', { EX: 3_600 });
  [vera, victor, mona, olga, bruno, aude] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona', 'olga', 'bruno', 'aude');
});

afterAll(async () => {
  redis?.destroy();
  await portal?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('the search index holds no plaintext of what was typed (issue 11 item 2)', () => {
  test('after a session that typed a marker and a secret at a read -s prompt, no Redis key or value holds either; search still finds both', async () => {
    const marker = `zanzibar${randomBytes(4).toString('hex')}`;
    const secret = `hushhush${randomBytes(4).toString('hex')}`;
    const requestId = await grant('vera', 'cnc-07', ['mona']);
    const r = await record('vera', requestId, 'cnc-07', [`echo ${marker}`, 'read -s PASSWORD', secret, 'echo evidence-done']);
    // The text is in the access-controlled recording files…
    expect(readFileSync(path.join(folder(r), 'typescript.txt'), 'utf8')).toContain(marker);
    expect(readFileSync(path.join(folder(r), 'events.jsonl'), 'utf8')).toContain('"keysym"');

    // …and nowhere in Redis: every key, every type of value, the audit stream included.
    const leaks: string[] = [];
    const keysSeen = await redis.keys('*');
    expect(keysSeen.some((k) => k.startsWith('airlock:recs:t:'))).toBe(true);
    for (const key of keysSeen) {
      const type = await redis.type(key);
      let value: unknown;
      // Gone since KEYS (e.g. the finalise lock, released just after the recording was indexed).
      if (type === 'none') continue;
      if (type === 'string') value = await redis.get(key);
      else if (type === 'hash') value = await redis.hGetAll(key);
      else if (type === 'set') value = await redis.sMembers(key);
      else if (type === 'zset') value = await redis.zRange(key, 0, -1);
      else if (type === 'list') value = await redis.lRange(key, 0, -1);
      else if (type === 'stream') value = await redis.xRange(key, '-', '+');
      else throw new Error(`unexpected Redis type ${type} of ${key}`);
      const text = `${key}\n${JSON.stringify(value)}`.toLowerCase();
      for (const word of [marker, secret]) if (text.includes(word)) leaks.push(`${word} in ${type} ${key}`);
    }
    expect(leaks).toEqual([]);

    // Exact-word search still works, for what was shown and typed and for the secret.
    for (const word of [marker, secret, marker.toUpperCase()]) {
      const hits = (await aude.get(`/api/recordings?q=${encodeURIComponent(word)}`)).json<{ recordings: RecordingView[] }>().recordings;
      expect(hits.map((h) => h.sessionId)).toEqual([r.sessionId]);
    }
    expect((await aude.get(`/api/recordings?q=${marker.slice(0, -1)}`)).json<{ recordings: RecordingView[] }>().recordings).toEqual([]);
  });

  test('an entry indexed before words were hashed loses its plaintext words at start and stays searchable', async () => {
    const sessionId = randomUUID();
    const word = `legacyword${randomBytes(3).toString('hex')}`;
    const summary: RecordingSummary = {
      sessionId,
      requestId: randomUUID(),
      requester: { id: 'dev:vera', name: 'Vera Vendor', company: 'acme-automation' },
      approvers: [],
      machine: { id: 'cnc-07', name: 'CNC 07 controller', siteId: 'site-a', protocol: 'ssh' },
      siteId: 'site-a',
      startedAt: new Date().toISOString(),
      endedAt: new Date().toISOString(),
      endReason: 'disconnected',
      incomplete: [],
      files: [],
      dir: `site-a/legacy/${sessionId}`,
    };
    // What the index of the earlier release wrote: the words themselves.
    await redis.hSet(keys.recordings.record(sessionId), { summary: JSON.stringify(summary), tokens: `${word} systemctl` });
    await redis.zAdd(keys.recordings.byTime, { score: Date.now(), value: sessionId });
    await redis.sAdd(keys.recordings.token(word), sessionId);
    await redis.sAdd(keys.recordings.token('systemctl'), sessionId);

    expect(await portal.services.recordings.catalog.upgradeIndex()).toMatchObject({ rehashed: 1 });
    expect(await redis.exists(keys.recordings.token(word))).toBe(0);
    expect(JSON.stringify(await redis.hGetAll(keys.recordings.record(sessionId)))).not.toContain(word);
    const hits = await portal.services.recordings.catalog.search({ filters: {}, text: word, from: undefined, to: undefined, sites: undefined, limit: 10, offset: 0 });
    expect(hits.recordings.map((h) => h.sessionId)).toEqual([sessionId]);
    expect(await portal.services.recordings.catalog.upgradeIndex()).toMatchObject({ rehashed: 0 });
    await portal.services.recordings.catalog.remove(sessionId);
  });
});

describe('a swapped, moved or deleted recording is reported (issue 11 item 1)', () => {
  const r: Record<'swappedInto' | 'source' | 'moved' | 'deleted', Recorded | undefined> = { swappedInto: undefined, source: undefined, moved: undefined, deleted: undefined };
  const need = (k: keyof typeof r): Recorded => {
    const found = r[k];
    if (found === undefined) throw new Error(`needs the ${k} recording`);
    return found;
  };

  beforeAll(async () => {
    r.swappedInto = await record('vera', await grant('vera', 'press-hmi', ['mona']), 'press-hmi', ['echo one']);
    r.source = await record('victor', await grant('victor', 'plc-gateway', ['bruno']), 'plc-gateway', ['echo two']);
    r.moved = await record('victor', await grant('victor', 'scada-historian', ['mona', 'olga']), 'scada-historian', ['echo three']);
    // A second session under the first grant (opened again after it ended).
    r.deleted = await record('vera', need('swappedInto').requestId, 'press-hmi', ['echo four']);
  }, 120_000);

  test('intact recordings verify everywhere, bound to their place, the index and the audit log', async () => {
    for (const k of ['swappedInto', 'source', 'moved', 'deleted'] as const) {
      expect(await verification(need(k).sessionId)).toMatchObject({ ok: true, place: 'ok', index: 'ok', audit: 'ok', mismatches: [] });
    }
    const report = verifyStoreCli(true);
    expect(report.out).toMatch(/recordings: (\d+) of \1 verified\n/);
    expect(report.status).toBe(0);
  });

  test("another session's signed files copied into a folder fail: API, CLI (with and without --redis) and bundle", async () => {
    const into = need('swappedInto');
    const source = need('source');
    for (const name of readdirSync(folder(into))) rmSync(path.join(folder(into), name));
    for (const name of readdirSync(folder(source))) copyFileSync(path.join(folder(source), name), path.join(folder(into), name));

    const v = await verification(into.sessionId);
    expect(v).toMatchObject({ ok: false, signature: 'valid', place: 'mismatch', index: 'mismatch', audit: 'mismatch' });
    expect(v.files.every((f) => f.ok)).toBe(true);
    expect(v.mismatches).toContain(`the manifest is session ${source.sessionId}'s, not this folder's (${into.sessionId})`);
    expect(v.mismatches).toContain("the audit log's recording.finalised event recorded another manifest (SHA-256 differs)");
    const details = (await aude.get(`/api/recordings/${into.sessionId}`)).json<{ recording: { verification: RecordingVerification } }>().recording;
    expect(details.verification).toMatchObject({ ok: false, place: 'mismatch' });
    // The source itself is untouched.
    expect((await verification(source.sessionId)).ok).toBe(true);

    for (const withRedis of [false, true]) {
      const report = verifyStoreCli(withRedis);
      expect(report.status).toBe(2);
      expect(report.out).toContain(`${into.sessionId}: FAILED — the manifest is session ${source.sessionId}'s, not this folder's (${into.sessionId})`);
      expect(report.out).toContain(`${source.sessionId}: OK`);
    }

    const bundle = cli('bundle', 'verify', await bundleOf(into.requestId), '--public-key', pubFile);
    expect(bundle.status).toBe(2);
    expect(bundle.out).toContain(`${into.sessionId}: FAILED — the manifest is session ${source.sessionId}'s, not this folder's (${into.sessionId}); the manifest is for request ${source.requestId}, not ${into.requestId}`);
    expect(bundle.out).toContain("recording.finalised event recorded another manifest");
  });

  test('a folder moved elsewhere in the store fails: API (details and verification) and CLI', async () => {
    const moved = need('moved');
    const elsewhere = path.join(store, moved.summary.siteId, '2001', '01', '01', moved.sessionId);
    mkdirSync(path.dirname(elsewhere), { recursive: true });
    renameSync(folder(moved), elsewhere);

    expect(await verification(moved.sessionId)).toMatchObject({ ok: false, manifest: 'missing', mismatches: ['the recording folder or its manifest is missing from the store'] });
    const details = await aude.get(`/api/recordings/${moved.sessionId}`);
    expect(details.status).toBe(410);
    expect(details.json<{ error: { code: string } }>().error.code).toBe('recording_missing');

    for (const withRedis of [false, true]) {
      const report = verifyStoreCli(withRedis);
      expect(report.status).toBe(2);
      expect(report.out).toContain(`${moved.sessionId}: FAILED — the folder is not where its manifest places it (it is dated 2001/01/01, its manifest's start ${moved.summary.startedAt})`);
    }
    // Put back, it verifies again (the place, not the files, was wrong).
    renameSync(elsewhere, folder(moved));
    expect((await verification(moved.sessionId)).ok).toBe(true);
  });

  test('a deleted folder fails: API, CLI with --redis (exit 2, named, counted) and bundle', async () => {
    const deleted = need('deleted');
    rmSync(folder(deleted), { recursive: true });

    expect(await verification(deleted.sessionId)).toMatchObject({ ok: false, manifest: 'missing' });
    expect((await aude.get(`/api/recordings/${deleted.sessionId}`)).status).toBe(410);

    const report = verifyStoreCli(true);
    expect(report.status).toBe(2);
    expect(report.out).toContain(`${deleted.sessionId}: FAILED — the recording folder or its manifest is missing from the store`);
    const total = /recordings: (\d+) of (\d+) verified, (\d+) FAILED/.exec(report.out);
    expect(total).not.toBeNull();
    // The deleted one is counted among the recordings, not left out of the total.
    expect(Number(total?.[2])).toBe(Number(total?.[1]) + Number(total?.[3]));
    expect(report.out).toContain('audit log: OK');

    const offline = verifyStoreCli(false);
    expect(offline.out).toContain('without --redis the store is not checked against the index and the audit log');

    // The request's bundle holds the other session (swapped earlier) and names the deleted one.
    const bundle = cli('bundle', 'verify', await bundleOf(deleted.requestId), '--public-key', pubFile);
    expect(bundle.status).toBe(2);
    expect(bundle.out).toContain(`${deleted.sessionId}: FAILED — the recording folder or its manifest is missing from the store`);
  });
});

describe('finalising is resumable, releases its lock on failure, and has one owner (issue 11 item 3)', () => {
  /** What a VNC session leaves in the spool: guacd's recording, the input log, then its context. */
  async function spooled(instance: string): Promise<{ sessionId: string; requestId: string; startedAt: string; dir: string }> {
    const sessionId = randomUUID();
    const requestId = await createRequest(vera, { machineId: 'press-hmi' });
    const startedAt = new Date().toISOString();
    mkdirSync(spool, { recursive: true });
    writeFileSync(path.join(spool, sessionId), '4.size,1.0,4.1024,3.768;4.sync,1.0;');
    writeFileSync(path.join(spool, `${sessionId}.events.jsonl`), '{"t":5,"type":"size","width":1024,"height":768}\n');
    writeFileSync(
      path.join(spool, `${sessionId}.session.json`),
      JSON.stringify({
        sessionId,
        requestId,
        machine: { id: 'press-hmi', name: 'Press line HMI', siteId: 'site-a', protocol: 'vnc' },
        user: { id: 'dev:vera', name: 'Vera Vendor', company: 'acme-automation' },
        policy: { clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: false },
        startedAt,
        instance,
      }),
    );
    return { sessionId, requestId, startedAt, dir: path.join(store, storeDir('site-a', new Date(startedAt), sessionId)) };
  }

  test('a crash between moving the files and writing the manifest resumes to a verifying recording; the failed attempt released its lock at once', async () => {
    const s = await spooled(ALIVE_INSTANCE);
    // The manifest cannot be written (a directory sits where it goes): the attempt fails after the move.
    mkdirSync(path.join(s.dir, 'manifest.json'), { recursive: true });
    const endedAt = new Date();
    await expect(portal.services.recordings.finaliser.finalise(s.sessionId, { endedAt, endReason: 'disconnected' })).rejects.toThrow();
    expect(await redis.exists(keys.recordings.finaliseLock(s.sessionId))).toBe(0);
    expect(existsSync(path.join(s.dir, 'recording.guac'))).toBe(true);
    expect(existsSync(path.join(spool, s.sessionId))).toBe(false);
    expect(await portal.services.recordings.catalog.get(s.sessionId)).toBeUndefined();
    expect(await finalisedEvents(s.sessionId)).toEqual([]);

    // Fixed; the next attempt (here the sweep's, with its own reason) finishes the first one's job.
    rmSync(path.join(s.dir, 'manifest.json'), { recursive: true });
    const manifest = await portal.services.recordings.finaliser.finalise(s.sessionId, { endedAt: new Date(), endReason: 'orphaned' });
    expect(manifest).toMatchObject({ sessionId: s.sessionId, endReason: 'disconnected', endedAt: endedAt.toISOString(), incomplete: [] });
    expect(manifest?.files.map((f) => f.kind).sort()).toEqual(['events', 'recording']);
    expect(await verification(s.sessionId)).toMatchObject({ ok: true, place: 'ok', index: 'ok', audit: 'ok' });
    expect(await finalisedEvents(s.sessionId)).toHaveLength(1);
    expect(existsSync(path.join(spool, `${s.sessionId}.session.json`))).toBe(false);
    // Done is done: another call finds nothing to do and writes nothing.
    expect(await portal.services.recordings.finaliser.finalise(s.sessionId, { endedAt: new Date(), endReason: 'orphaned' })).toBeUndefined();
    expect(await finalisedEvents(s.sessionId)).toHaveLength(1);
  });

  test('a finalise that stopped after its audit event finishes without a second event or a new manifest', async () => {
    const s = await spooled(ALIVE_INSTANCE);
    const context = readFileSync(path.join(spool, `${s.sessionId}.session.json`), 'utf8');
    const endedAt = new Date();
    expect(await portal.services.recordings.finaliser.finalise(s.sessionId, { endedAt, endReason: 'disconnected' })).toBeDefined();
    const [event] = await finalisedEvents(s.sessionId);
    if (event === undefined) throw new Error('not audited');
    const manifest = readFileSync(path.join(s.dir, 'manifest.json'));
    // What a crash just before deleting the context leaves: the context with its intent, audited.
    writeFileSync(path.join(spool, `${s.sessionId}.session.json`), JSON.stringify({ ...JSON.parse(context), end: { endedAt: endedAt.toISOString(), endReason: 'disconnected', auditAt: event.at } }));
    expect(await portal.services.recordings.finaliser.finalise(s.sessionId, { endedAt: new Date(), endReason: 'orphaned' })).toMatchObject({ endReason: 'disconnected' });
    expect(readFileSync(path.join(s.dir, 'manifest.json'))).toEqual(manifest);
    expect(await finalisedEvents(s.sessionId)).toHaveLength(1);
    expect(await verification(s.sessionId)).toMatchObject({ ok: true, audit: 'ok' });
    expect(existsSync(path.join(spool, `${s.sessionId}.session.json`))).toBe(false);
  });

  test('two finalises of one session at once: one does it, one event', async () => {
    const s = await spooled(ALIVE_INSTANCE);
    const results = await Promise.all([1, 2, 3].map(() => portal.services.recordings.finaliser.finalise(s.sessionId, { endedAt: new Date(), endReason: 'disconnected' })));
    expect(results.filter((m) => m !== undefined)).toHaveLength(1);
    expect(await finalisedEvents(s.sessionId)).toHaveLength(1);
    expect((await verification(s.sessionId)).ok).toBe(true);
  });

  test('the orphan sweep cannot take a session its own instance is ending: one recording.finalised event, its own end reason', async () => {
    const requestId = await grant('victor', 'press-hmi', ['mona']);
    let sweeping = true;
    let swept = 0;
    // What the heartbeat's sweep decides for this instance's sessions, as fast as it can,
    // through the moment the session leaves the local list and its end reaches the finaliser.
    const sweep = async (sessionId: string): Promise<void> => {
      while (sweeping) {
        swept += await portal.services.recordings.finaliser.pickUpOrphans(async (context) => context.sessionId === sessionId && !portal.services.broker.localSessionIds().includes(sessionId));
        await nextTick();
      }
    };
    let loop: Promise<void> | undefined;
    const r = await record('victor', requestId, 'press-hmi', ['echo race'], async (sessionId) => {
      loop = sweep(sessionId);
    });
    sweeping = false;
    await loop;
    expect(swept).toBe(0);
    expect(r.summary.endReason).toBe('disconnected');
    expect(await finalisedEvents(r.sessionId)).toHaveLength(1);
    expect((await verification(r.sessionId)).ok).toBe(true);
  });

  test('a set-up that never got a context leaves no empty input log in the spool', async () => {
    const stray = path.join(spool, `${randomUUID()}.events.jsonl`);
    const young = path.join(spool, `${randomUUID()}.events.jsonl`);
    const kept = path.join(spool, `${randomUUID()}.events.jsonl`);
    writeFileSync(stray, '');
    writeFileSync(young, '');
    writeFileSync(kept, '{"t":0,"type":"size","width":1,"height":1}\n');
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(stray, old, old);
    utimesSync(kept, old, old);
    await portal.services.recordings.finaliser.pickUpOrphans(async () => false);
    expect(existsSync(stray)).toBe(false);
    // Written a moment ago (a set-up still waiting for its slot), or not empty: left alone.
    expect(existsSync(young)).toBe(true);
    expect(existsSync(kept)).toBe(true);
    rmSync(young);
    rmSync(kept);
  });
});
