// The S3 recording store (issue 12, "Recording store backends"), against s3rver behind a proxy
// that records what Airlock sends and stands in for Object Lock (test/support/s3.ts): uploads
// carry their manifest, signature, SHA-256 and compliance-mode lock until the retention date;
// playback with Range, bundles, API and CLI verification and orphan pick-up read the bucket;
// a store that is down, or that kept other bytes, fails the finalise closed and the retry
// stores it; an object changed in the bucket fails verification; legal holds reach the store;
// the purge leaves what the store still locks.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs } from './support/http.ts';
import { grantNow, sessionTicket } from './support/workflow.ts';
import { seedDemoPlant } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { writeSigningKeys } from './support/signing.ts';
import { redisDbUrl } from './support/services.ts';
import { startLocalS3, type LocalS3 } from './support/s3.ts';
import type { RecordingSummary } from '../recordings/catalog.ts';
import type { RecordingView } from '../recordings/presenter.ts';
import type { RecordingVerification } from '../recordings/manifest.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

const DB = 8;
const PREFIX = 'plant/recordings/';
const AIRLOCK_CLI = path.resolve(import.meta.dirname, '../scripts/airlock.ts');
const DAY_MS = 86_400_000;
const DEFAULT_RETENTION_DAYS = 365;

let work: string;
let spool: string;
let pubFile: string;
let s3: LocalS3;
let direct: S3Client;
let portal: TestPortal;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;
let adam: Browserless;
let grant: string;

const objectKey = (s: RecordingSummary, name: string): string => `${PREFIX}${s.dir}/${name}`;

async function objectBytes(key: string): Promise<Buffer> {
  const o = await direct.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
  return Buffer.from(await (o.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

async function objectKeys(prefix: string): Promise<string[]> {
  const listed = await direct.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }));
  return (listed.Contents ?? []).map((o) => o.Key ?? '').sort();
}

const auditOf = async (action: string, sessionId: string): Promise<AuditEvent[]> =>
  (await aude.get(`/api/audit?action=${action}&target=session:${sessionId}&limit=100`)).json<{ events: AuditEvent[] }>().events;
const verification = async (id: string): Promise<RecordingVerification> => (await aude.get(`/api/recordings/${id}/verify`)).json<{ verification: RecordingVerification }>().verification;

/** Runs a VNC session under the grant and ends it; resolves with its id once it has closed (not once finalised). */
async function runSession(): Promise<string> {
  const { ticket, id } = await sessionTicket(vera, grant);
  const result = await openTunnel(vera, { ticket });
  if (!result.ok) throw new Error(`refused ${result.status}`);
  await result.tunnel.firstFrame();
  result.tunnel.typeText('echo s3\n');
  await waitFor(() => readFileSync(path.join(spool, `${id}.events.jsonl`), 'utf8').includes('"keysym":65293'), { timeoutMs: 5_000, what: 'Enter in the input log' });
  await result.tunnel.close();
  return id;
}

async function finalised(sessionId: string, timeoutMs = 20_000): Promise<RecordingSummary> {
  let summary: RecordingSummary | undefined;
  await waitFor(async () => {
    summary = await portal.services.recordings.catalog.get(sessionId);
    return summary !== undefined;
  }, { timeoutMs, what: 'the recording to be finalised' });
  if (summary === undefined) throw new Error('not finalised');
  return summary;
}

/** The CLI, asynchronously: the local S3 it reads runs in this process, which spawnSync would block. */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AIRLOCK_CLI, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.on('close', (status) => resolve({ status, out }));
  });
}
const verifyS3Cli = () => cli(['recordings', 'verify', '--store', `s3://${s3.bucket}/${PREFIX}`, '--public-key', pubFile, '--redis', redisDbUrl(DB)], s3.env(PREFIX));

async function rawGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(new URL(url, portal.publicUrl), { headers: { cookie: aude.cookieHeader(), ...headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

const uploadsOf = (s: RecordingSummary) => s3.requests.filter((r) => r.method === 'PUT' && r.path.startsWith(`/${s3.bucket}/${PREFIX}${s.dir}/`) && !r.query.has('legal-hold'));

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'airlock-s3-test-'));
  spool = path.join(work, 'spool');
  const signing = writeSigningKeys(work);
  pubFile = signing.pubFile;
  s3 = await startLocalS3();
  direct = s3.directClient();
  portal = await startTestPortal({ ...s3.env(PREFIX), AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_SIGNING_KEY_FILE: signing.keyFile, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: DB });
  await seedDemoPlant(portal, { targets: true });
  [vera, mona, aude, adam] = (await Promise.all(['vera', 'mona', 'aude', 'adam'].map((u) => loginAs(portal.publicUrl, u)))) as [Browserless, Browserless, Browserless, Browserless];
  grant = await grantNow(portal, vera, mona, 'press-hmi', 30 * 60_000);
});

afterAll(async () => {
  await portal?.close();
  direct?.destroy();
  await s3?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('a finalised session in S3', () => {
  let s: RecordingSummary;
  beforeAll(async () => {
    s = await finalised(await runSession());
  }, 60_000);

  test('is uploaded with its manifest and signature, each under a compliance-mode lock until its retention date, with its SHA-256', async () => {
    const names = ['events.jsonl', 'manifest.json', 'manifest.sig', 'recording.guac'];
    expect(await objectKeys(`${PREFIX}${s.dir}/`)).toEqual(names.map((n) => objectKey(s, n)));
    const retainUntil = new Date(Date.parse(s.endedAt) + DEFAULT_RETENTION_DAYS * DAY_MS).toISOString();
    const uploads = uploadsOf(s);
    expect(uploads.map((u) => path.basename(u.path)).sort()).toEqual(names);
    for (const u of uploads) {
      expect(u.headers['x-amz-object-lock-mode']).toBe('COMPLIANCE');
      expect(u.headers['x-amz-object-lock-retain-until-date']).toBe(retainUntil);
      expect(u.headers['x-amz-object-lock-legal-hold']).toBe('OFF');
      // What S3 checks the body against: the hash of what was stored.
      expect(u.headers['x-amz-checksum-sha256']).toBe(createHash('sha256').update(await objectBytes(u.path.slice(s3.bucket.length + 2))).digest('base64'));
    }
    // The spool keeps nothing of a session the store holds: no files, no staged copy, no context.
    expect(readdirSync(spool).filter((n) => n.startsWith(s.sessionId))).toEqual([]);
  });

  test('verifies (API), and what the browser gets names no bucket, prefix or key', async () => {
    expect(await verification(s.sessionId)).toMatchObject({ ok: true, place: 'ok', index: 'ok', audit: 'ok', mismatches: [] });
    const details = await aude.get(`/api/recordings/${s.sessionId}`);
    expect(details.status).toBe(200);
    const listed = await aude.get(`/api/recordings?request=${grant}`);
    for (const text of [details.text, listed.text]) {
      expect(text).not.toContain(s3.bucket);
      expect(text).not.toContain(PREFIX);
      expect(text).not.toContain(s.dir);
    }
  });

  test('plays back with HTTP Range passed to the store', async () => {
    const whole = await objectBytes(objectKey(s, 'recording.guac'));
    const full = await rawGet(`/api/recordings/${s.sessionId}/files/recording`);
    expect(full.status).toBe(200);
    expect(full.body.equals(whole)).toBe(true);
    expect(full.headers.get('accept-ranges')).toBe('bytes');

    const first = await rawGet(`/api/recordings/${s.sessionId}/files/recording`, { Range: 'bytes=0-9' });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-9/${whole.length}`);
    expect(first.body.equals(whole.subarray(0, 10))).toBe(true);
    expect(s3.requests.some((r) => r.method === 'GET' && r.headers.range === 'bytes=0-9' && r.path.endsWith('/recording.guac'))).toBe(true);

    const rest = await rawGet(`/api/recordings/${s.sessionId}/files/recording`, { Range: 'bytes=10-' });
    expect(rest.status).toBe(206);
    expect(rest.body.equals(whole.subarray(10))).toBe(true);

    const outside = await rawGet(`/api/recordings/${s.sessionId}/files/recording`, { Range: `bytes=${whole.length + 10}-` });
    expect(outside.status).toBe(416);
    expect(JSON.parse(outside.body.toString('utf8'))).toMatchObject({ error: { code: 'range_not_satisfiable' } });
  });

  test("the request's evidence bundle is built from the bucket and verifies offline", async () => {
    const res = await fetch(new URL(`/api/requests/${grant}/bundle`, portal.publicUrl), { headers: { cookie: aude.cookieHeader() } });
    expect(res.status).toBe(200);
    const file = path.join(work, 'bundle.tar.gz');
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const report = await cli(['bundle', 'verify', file, '--public-key', pubFile]);
    expect(report.out).toContain(`${s.sessionId}: OK`);
    expect(report.status).toBe(0);
  });

  test('the CLI verifies the bucket against the index and the audit log', async () => {
    const report = await verifyS3Cli();
    expect(report.out).toContain(`${s.sessionId}: OK`);
    expect(report.out).toMatch(/recordings: (\d+) of \1 verified\n/);
    expect(report.status).toBe(0);
  });

  test('a legal hold is set on every object in the store (and on uploads while it stands), and cleared when released', async () => {
    expect((await aude.request('PUT', `/api/holds/request/${grant}`, { body: { reason: 'incident 2026-201' } })).status).toBe(200);
    const holdCalls = (status: string) => s3.requests.filter((r) => r.query.has('legal-hold') && r.path.includes(s.dir) && r.body.toString('utf8').includes(`<Status>${status}</Status>`));
    expect(holdCalls('ON').map((r) => path.basename(r.path)).sort()).toEqual(['events.jsonl', 'manifest.json', 'manifest.sig', 'recording.guac']);
    expect(s3.locks.get(`/${s3.bucket}/${objectKey(s, 'recording.guac')}`)?.legalHold).toBe(true);
    // A session finalised while the hold stands is uploaded under it.
    const during = await finalised(await runSession());
    expect(uploadsOf(during).map((u) => u.headers['x-amz-object-lock-legal-hold'])).toEqual(['ON', 'ON', 'ON', 'ON']);
    expect((await aude.request('DELETE', `/api/holds/request/${grant}`)).status).toBe(204);
    expect(holdCalls('OFF')).toHaveLength(4);
    expect(s3.locks.get(`/${s3.bucket}/${objectKey(s, 'recording.guac')}`)?.legalHold).toBe(false);
  }, 60_000);
});

test('an object changed in the bucket after upload fails verification, saying which file (API and CLI)', async () => {
  const s = await finalised(await runSession());
  const key = objectKey(s, 'recording.guac');
  const original = await objectBytes(key);
  await direct.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: Buffer.concat([original, Buffer.from('4.sync,1.9;')]) }));
  const v = await verification(s.sessionId);
  expect(v).toMatchObject({ ok: false, signature: 'valid' });
  expect(v.files.find((f) => f.name === 'recording.guac')).toEqual({ name: 'recording.guac', ok: false, problem: 'hash_mismatch' });
  const report = await verifyS3Cli();
  expect(report.status).toBe(2);
  expect(report.out).toContain(`${s.sessionId}: FAILED — recording.guac hash_mismatch`);
  // Put back, it verifies again.
  await direct.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: original }));
  expect((await verification(s.sessionId)).ok).toBe(true);
}, 60_000);

test('a store that is down at finalise time: the spool copy stays, the failure is audited once, and the retry stores it when the store is back', async () => {
  s3.setDown(true);
  let sessionId: string;
  try {
    sessionId = await runSession();
    await waitFor(async () => (await auditOf('recording.store_failed', sessionId)).length > 0, { timeoutMs: 60_000, what: 'the failed upload to be audited' });
    // Fail closed: nothing indexed, nothing lost; the signed copy waits in the spool.
    expect(await portal.services.recordings.catalog.get(sessionId)).toBeUndefined();
    expect(existsSync(path.join(spool, `${sessionId}.session.json`))).toBe(true);
    expect(readdirSync(path.join(spool, `${sessionId}.staged`)).sort()).toEqual(['events.jsonl', 'manifest.json', 'manifest.sig', 'recording.guac']);
  } finally {
    s3.setDown(false);
  }
  const s = await finalised(sessionId, 60_000);
  const [failure] = await auditOf('recording.store_failed', sessionId);
  expect(failure).toMatchObject({ outcome: 'ok', details: { store: 's3' } });
  expect(JSON.stringify(failure)).not.toContain(s3.endpoint);
  const retried = await auditOf('recording.store_failed', sessionId);
  expect(retried).toHaveLength(1);
  const [done] = await auditOf('recording.finalised', sessionId);
  expect(done?.details).toMatchObject({ storedAfterRetry: true });
  expect((await verification(s.sessionId)).ok).toBe(true);
  expect(readdirSync(spool).filter((n) => n.startsWith(sessionId))).toEqual([]);
}, 120_000);

test('an upload the store kept other bytes of is caught by the read-back, and the retry stores it intact', async () => {
  s3.corruptNextUpload('/recording.guac');
  const sessionId = await runSession();
  const s = await finalised(sessionId, 60_000);
  expect(await auditOf('recording.store_failed', sessionId)).toHaveLength(1);
  expect(uploadsOf(s).filter((u) => u.path.endsWith('/recording.guac'))).toHaveLength(2);
  expect(await verification(sessionId)).toMatchObject({ ok: true });
}, 90_000);

test("an orphan (its instance died) is picked up from the spool and uploaded to S3", async () => {
  const template = (await portal.services.recordings.catalog.search({ filters: { request: grant }, text: undefined, from: undefined, to: undefined, sites: undefined, limit: 1, offset: 0 })).recordings[0];
  if (template === undefined) throw new Error('needs a recording to copy');
  const sessionId = randomUUID();
  mkdirSync(spool, { recursive: true });
  writeFileSync(path.join(spool, sessionId), await objectBytes(objectKey(template, 'recording.guac')));
  writeFileSync(path.join(spool, `${sessionId}.events.jsonl`), '{"t":5,"type":"size","width":1024,"height":768}\n');
  writeFileSync(
    path.join(spool, `${sessionId}.session.json`),
    JSON.stringify({
      sessionId,
      requestId: grant,
      machine: { id: 'press-hmi', name: 'Press line HMI', siteId: 'site-a', protocol: 'vnc' },
      user: { id: 'dev:vera', name: 'Vera Vendor', company: 'acme-automation' },
      policy: { clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: false },
      startedAt: new Date().toISOString(),
      instance: 'killed-instance-s3',
    }),
  );
  const s = await finalised(sessionId, 30_000);
  expect(s.endReason).toBe('orphaned');
  expect(uploadsOf(s).every((u) => u.headers['x-amz-object-lock-mode'] === 'COMPLIANCE')).toBe(true);
  expect(await verification(sessionId)).toMatchObject({ ok: true });
  expect(readdirSync(spool).filter((n) => n.startsWith(sessionId))).toEqual([]);
}, 60_000);

test('the retention purge leaves what the store still locks (and says so), and deletes it once the lock is over', async () => {
  const all = (await aude.get('/api/recordings?limit=200')).json<{ recordings: RecordingView[] }>().recordings;
  expect(all.length).toBeGreaterThan(0);
  // Site A now keeps recordings 30 days; they were locked for the 365 in force when they were written.
  expect((await adam.request('PUT', '/api/admin/sites/site-a', { body: { name: 'Plant A (Lyon)', timeZone: 'Europe/Paris', retentionDays: 30 } })).status).toBe(200);
  const deletesBefore = s3.requests.filter((r) => r.method === 'DELETE').length;
  const in40days = new Date(Date.now() + 40 * DAY_MS);
  const first = await portal.services.recordings.service.purge(in40days);
  expect(first).toMatchObject({ purged: 0, locked: all.length });
  expect(s3.requests.filter((r) => r.method === 'DELETE').length).toBe(deletesBefore);
  expect(portal.logLines.some((l) => l.includes('the store still locks it'))).toBe(true);
  expect((await aude.get('/api/audit?action=recording.purged&limit=10')).json<{ events: unknown[] }>().events).toEqual([]);

  // Past the lock (the stand-in's clock moves with the purge's), the purge deletes each object.
  const in400days = new Date(Date.now() + 400 * DAY_MS);
  s3.clock = () => in400days;
  const second = await portal.services.recordings.service.purge(in400days);
  expect(second).toMatchObject({ purged: all.length, locked: 0 });
  expect(await objectKeys(PREFIX)).toEqual([]);
  expect((await aude.get('/api/audit?action=recording.purged&limit=100')).json<{ events: unknown[] }>().events).toHaveLength(all.length);
}, 60_000);

test('no log line holds the store credentials', () => {
  // The store-down and corrupted-upload runs above logged their failures.
  expect(portal.logLines.some((l) => l.includes('could not put the recording into the store'))).toBe(true);
  expect(portal.logLines.filter((l) => l.includes(s3.env()['AIRLOCK_S3_SECRET_ACCESS_KEY'] ?? 'unset'))).toEqual([]);
});
