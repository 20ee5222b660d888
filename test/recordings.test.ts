// Recordings after the session: finalised, signed, indexed and searchable for every protocol;
// verification that names the altered file; authorised streaming with Range; evidence bundles
// that verify offline; orphans finalised at start; retention with legal holds.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAll } from './support/http.ts';
import { createRequest, seedDemoPlant, sessionTicket, windowFromNow } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { writeSigningKeys } from './support/signing.ts';
import { redisDbUrl } from './support/services.ts';
import type { RecordingSummary } from '../recordings/catalog.ts';
import type { RecordingView } from '../recordings/presenter.ts';
import type { RecordingVerification } from '../recordings/manifest.ts';

const DB = 14;
const AIRLOCK_CLI = path.resolve(import.meta.dirname, '../scripts/airlock.ts');
let work: string;
let spool: string;
let store: string;
let keyFile: string;
let pubFile: string;
let env: Record<string, string>;
let portal: TestPortal;
/** Signed in: the vendors, the plant managers, the auditor, the admin. */
let vera: Browserless, victor: Browserless, mona: Browserless, olga: Browserless, bruno: Browserless, aude: Browserless, adam: Browserless;

interface Finished {
  requestId: string;
  sessionId: string;
  summary: RecordingSummary;
}

/** Runs a session that types `text`, ends it, and waits for its recording to be indexed. */
async function recordSession(vendorName: string, machineId: string, approverNames: string[], text: string): Promise<Finished> {
  const agents: Record<string, Browserless> = { vera, victor, mona, olga, bruno };
  const vendor = agents[vendorName] as Browserless;
  const requestId = await createRequest(vendor, { machineId, ...windowFromNow(1_200, 600_000) });
  for (const name of approverNames) expect((await (agents[name] as Browserless).post(`/api/requests/${requestId}/approve`, {})).status).toBe(200);
  await waitFor(async () => (await portal.services.requests.grantFor(`dev:${vendorName}`, machineId))?.requestId === requestId, { timeoutMs: 5_000, what: 'the grant' });
  const { ticket, id } = await sessionTicket(vendor, requestId);
  const result = await openTunnel(vendor, { ticket });
  if (!result.ok) throw new Error(`refused ${result.status}`);
  await result.tunnel.firstFrame();
  if (machineId === 'cnc-07' || machineId === 'plc-gateway') {
    await waitFor(() => existsSync(path.join(spool, `${id}.typescript`)) && /[$#] $/m.test(readFileSync(path.join(spool, `${id}.typescript`), 'utf8')), { timeoutMs: 20_000, what: 'a prompt' });
  }
  result.tunnel.typeText(`${text}\n`);
  await waitFor(() => readFileSync(path.join(spool, `${id}.events.jsonl`), 'utf8').includes('"keysym":65293'), { timeoutMs: 5_000, what: 'Enter in the input log' });
  await result.tunnel.close();
  let summary: RecordingView | undefined;
  await waitFor(async () => {
    summary = (await aude.get(`/api/recordings?request=${requestId}`)).json<{ recordings: RecordingView[] }>().recordings[0];
    return summary !== undefined;
  }, { timeoutMs: 15_000, what: 'the recording to be finalised' });
  if (summary === undefined) throw new Error('not finalised');
  return { requestId, sessionId: id, summary: await withDir(summary) };
}

/** The API does not say where the store keeps a recording: the tests read its folder from the index. */
async function withDir(listed: RecordingView): Promise<RecordingSummary> {
  const indexed = await portal.services.recordings.catalog.get(listed.sessionId);
  if (indexed === undefined) throw new Error(`${listed.sessionId} is not indexed`);
  return { ...listed, dir: indexed.dir };
}

/** GET with exact bytes (Browserless decodes text). */
async function rawGet(agent: Browserless, url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(new URL(url, portal.publicUrl), { headers: { cookie: agent.cookieHeader(), ...headers } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

const folder = (s: RecordingSummary): string => path.join(store, s.dir);
const verification = async (id: string): Promise<RecordingVerification> => (await aude.get(`/api/recordings/${id}/verify`)).json<{ verification: RecordingVerification }>().verification;

function cli(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [AIRLOCK_CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'airlock-recordings-test-'));
  spool = path.join(work, 'spool');
  store = path.join(work, 'store');
  ({ keyFile, pubFile } = writeSigningKeys(work));
  env = { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_STORE: store, AIRLOCK_SIGNING_KEY_FILE: keyFile, AIRLOCK_RECORDING_MIN_FREE_MB: '1' };
  portal = await startTestPortal(env, { freshDb: DB });
  await seedDemoPlant(portal, { targets: true });
  [vera, victor, mona, olga, bruno, aude, adam] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona', 'olga', 'bruno', 'aude', 'adam');
});

afterAll(async () => {
  await portal?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('every protocol is finalised, signed, indexed and searchable', () => {
  const done: Record<string, Finished> = {};

  test.each([
    ['ssh', 'cnc-07', 'vera', ['mona']],
    ['telnet', 'plc-gateway', 'victor', ['bruno']],
    ['vnc', 'press-hmi', 'vera', ['mona']],
    ['rdp', 'scada-historian', 'victor', ['mona', 'olga']],
  ])('%s', async (protocol, machineId, vendorName, approverNames) => {
    const word = `zebra${randomBytes(3).toString('hex')}`;
    const f = await recordSession(vendorName, machineId, approverNames, `echo ${word}`);
    done[protocol] = f;
    expect(f.summary).toMatchObject({ machine: { id: machineId, protocol }, requester: { id: `dev:${vendorName}` }, endReason: 'disconnected', incomplete: [] });
    expect(f.summary.approvers.map((a) => a.id).sort()).toEqual(approverNames.map((n) => `dev:${n}`).sort());
    const expectedKinds = protocol === 'ssh' || protocol === 'telnet' ? ['events', 'recording', 'typescript', 'typescriptTiming'] : ['events', 'recording'];
    expect(f.summary.files.map((x) => x.kind).sort()).toEqual(expectedKinds);
    // The spool is empty of this session; the folder is in the store, laid out by site and date.
    expect(existsSync(path.join(spool, f.sessionId))).toBe(false);
    expect(f.summary.dir).toMatch(new RegExp(`^${f.summary.siteId}/\\d{4}/\\d{2}/\\d{2}/${f.sessionId}$`));
    expect(await verification(f.sessionId)).toMatchObject({ ok: true, signature: 'valid' });
    // Found by the word that was typed (and, for terminals, shown).
    const hits = (await aude.get(`/api/recordings?q=${word}`)).json<{ recordings: RecordingView[] }>().recordings;
    expect(hits.map((h) => h.sessionId)).toEqual([f.sessionId]);
    const manifest = JSON.parse(readFileSync(path.join(folder(f.summary), 'manifest.json'), 'utf8')) as { reason: string; signer: { algorithm: string } };
    expect(manifest.reason).toBe('replace a worn spindle encoder');
    expect(manifest.signer.algorithm).toBe('Ed25519');
  });

  test('search filters combine', async () => {
    const ssh = done['ssh'];
    if (ssh === undefined) throw new Error('needs the ssh recording');
    const q = (s: string) => aude.get(`/api/recordings?${s}`).then((r) => r.json<{ recordings: RecordingView[] }>().recordings.map((x) => x.sessionId));
    expect(await q('vendor=dev:vera&protocol=ssh')).toContain(ssh.sessionId);
    expect(await q('vendor=dev:vera&protocol=vnc')).not.toContain(ssh.sessionId);
    expect(await q('company=acme-automation&site=site-a&approver=dev:mona')).toContain(ssh.sessionId);
    expect(await q(`machine=cnc-07&from=${encodeURIComponent(ssh.summary.startedAt)}`)).toContain(ssh.sessionId);
    expect(await q(`machine=cnc-07&to=${encodeURIComponent(new Date(Date.parse(ssh.summary.startedAt) - 60_000).toISOString())}`)).not.toContain(ssh.sessionId);
    expect(await q('reason=window_ended&machine=cnc-07')).not.toContain(ssh.sessionId);
  });

  test('who may see recordings: auditors and admins all, managers their sites, vendors none, nobody anonymous', async () => {
    const ssh = done['ssh'];
    if (ssh === undefined) throw new Error('needs the ssh recording');
    const id = ssh.sessionId;
    for (const path_ of [`/api/recordings/${id}`, `/api/recordings/${id}/files/recording`, `/api/requests/${ssh.requestId}/bundle`]) {
      expect((await bruno.get(path_)).status).toBe(404);
      expect((await vera.get(path_)).status).toBe(403);
      expect((await new Browserless(portal.publicUrl).get(path_)).status).toBe(401);
      expect((await adam.get(path_)).status).toBe(200);
      expect((await mona.get(path_)).status).toBe(200);
    }
    expect((await vera.get('/api/recordings')).status).toBe(403);
    const brunoList = (await bruno.get('/api/recordings?limit=200')).json<{ recordings: RecordingView[] }>().recordings;
    expect(brunoList.every((r) => r.siteId === 'site-b')).toBe(true);
    expect(brunoList.length).toBeGreaterThan(0);
  });

  test('the API never says where the store keeps a recording (no dir in the summary or the details)', async () => {
    const ssh = done['ssh'];
    if (ssh === undefined) throw new Error('needs the ssh recording');
    const listed = (await aude.get(`/api/recordings?request=${ssh.requestId}`)).json<{ recordings: Array<Record<string, unknown>> }>().recordings;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ sessionId: ssh.sessionId });
    expect(listed[0]).not.toHaveProperty('dir');
    const details = (await aude.get(`/api/recordings/${ssh.sessionId}`)).json<{ recording: Record<string, unknown> }>().recording;
    expect(details).toMatchObject({ sessionId: ssh.sessionId, manifest: { sessionId: ssh.sessionId }, verification: { ok: true } });
    expect(details).not.toHaveProperty('dir');
  });

  test('Range requests return exactly the bytes asked for; playback is audited once', async () => {
    const ssh = done['ssh'];
    if (ssh === undefined) throw new Error('needs the ssh recording');
    const whole = readFileSync(path.join(folder(ssh.summary), 'recording.guac'));
    const url = `/api/recordings/${ssh.sessionId}/files/recording`;
    const before = (await aude.get(`/api/audit?action=recording.played&target=session:${ssh.sessionId}`)).json<{ events: unknown[] }>().events.length;
    const first = await rawGet(aude, url, { range: 'bytes=0-99' });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-99/${whole.length}`);
    expect(first.body).toEqual(whole.subarray(0, 100));
    const middle = await rawGet(aude, url, { range: 'bytes=100-199' });
    expect(middle.status).toBe(206);
    expect(middle.body).toEqual(whole.subarray(100, 200));
    expect((await rawGet(aude, url, { range: `bytes=${whole.length + 10}-` })).status).toBe(416);
    const full = await rawGet(aude, url);
    expect(full.status).toBe(200);
    expect(full.body).toEqual(whole);
    const after = (await aude.get(`/api/audit?action=recording.played&target=session:${ssh.sessionId}`)).json<{ events: unknown[] }>().events.length;
    // Two playbacks started (the Range from byte 0, the whole file); the Range from 100 continued one.
    expect(after - before).toBe(2);
  });

  test('the evidence bundle verifies offline, and a tampered one does not', async () => {
    const ssh = done['ssh'];
    if (ssh === undefined) throw new Error('needs the ssh recording');
    const res = await rawGet(aude, `/api/requests/${ssh.requestId}/bundle`);
    expect(res.status).toBe(200);
    const bundle = path.join(work, 'bundle.tar.gz');
    writeFileSync(bundle, res.body);
    const ok = cli('bundle', 'verify', bundle, '--public-key', pubFile);
    expect(ok.out).toContain(`${ssh.sessionId}: OK`);
    expect(ok.out).toMatch(/audit events: (\d+) of \1 intact/);
    expect(ok.status).toBe(0);

    const other = generateKeyPairSync('ed25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    writeFileSync(path.join(work, 'other.pem'), other);
    const wrongKey = cli('bundle', 'verify', bundle, '--public-key', path.join(work, 'other.pem'));
    expect(wrongKey.status).toBe(2);
    expect(wrongKey.out).toContain('signature invalid');
  });

  test('one flipped byte or a deleted file is reported exactly, by the API and the CLI', async () => {
    const { vnc, telnet, rdp, ssh } = done;
    if (vnc === undefined || telnet === undefined || rdp === undefined || ssh === undefined) throw new Error('needs recordings');
    const rec = path.join(folder(vnc.summary), 'recording.guac');
    const bytes = readFileSync(rec);
    bytes[Math.floor(bytes.length / 2)] = (bytes[Math.floor(bytes.length / 2)] ?? 0) ^ 0x01;
    writeFileSync(rec, bytes);
    expect(await verification(vnc.sessionId)).toMatchObject({ ok: false, signature: 'valid', files: expect.arrayContaining([{ name: 'recording.guac', ok: false, problem: 'hash_mismatch' }, { name: 'events.jsonl', ok: true, problem: null }]) });

    unlinkSync(path.join(folder(telnet.summary), 'typescript.txt'));
    expect((await verification(telnet.sessionId)).files).toContainEqual({ name: 'typescript.txt', ok: false, problem: 'missing' });

    const manifestFile = path.join(folder(rdp.summary), 'manifest.json');
    writeFileSync(manifestFile, readFileSync(manifestFile, 'utf8').replace('"endReason": "disconnected"', '"endReason": "window_ended"'));
    expect((await verification(rdp.sessionId)).signature).toBe('invalid');

    const report = cli('recordings', 'verify', '--store', store, '--public-key', pubFile);
    expect(report.status).toBe(2);
    expect(report.out).toContain(`${vnc.sessionId}: FAILED — recording.guac hash_mismatch`);
    expect(report.out).toContain(`${telnet.sessionId}: FAILED — typescript.txt missing`);
    expect(report.out).toContain(`${rdp.sessionId}: FAILED — signature invalid`);
    expect(report.out).toContain(`${ssh.sessionId}: OK`);
  });
});

test('orphaned spool files of a killed instance are finalised at the next start', async () => {
  const sessionId = randomUUID();
  const requestId = await createRequest(vera, { machineId: 'cnc-07' });
  const listed = (await aude.get('/api/recordings?protocol=ssh&limit=1')).json<{ recordings: RecordingView[] }>().recordings[0];
  if (listed === undefined) throw new Error('needs an ssh recording to copy');
  const template = await withDir(listed);
  // What a portal that died mid-session leaves behind: guacd's files, then its context.
  copyFileSync(path.join(folder(template), 'recording.guac'), path.join(spool, sessionId));
  writeFileSync(path.join(spool, `${sessionId}.events.jsonl`), '');
  writeFileSync(path.join(spool, `${sessionId}.session.json`), JSON.stringify({
    sessionId,
    requestId,
    machine: { id: 'cnc-07', name: 'CNC 07 controller', siteId: 'site-a', protocol: 'ssh' },
    user: { id: 'dev:vera', name: 'Vera Vendor', company: 'acme-automation' },
    policy: { clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: false },
    startedAt: new Date().toISOString(),
    instance: 'killed-instance-1',
  }));
  const next = await startTestPortal({ ...env, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
  try {
    let found: RecordingView[] = [];
    await waitFor(async () => {
      found = (await aude.get(`/api/recordings?request=${requestId}`)).json<{ recordings: RecordingView[] }>().recordings;
      return found.length > 0;
    }, { timeoutMs: 10_000, what: 'the orphan to be finalised' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ sessionId, endReason: 'orphaned', incomplete: ['typescript_missing', 'typescriptTiming_missing'] });
    expect((await verification(sessionId)).ok).toBe(true);
  } finally {
    await next.close();
  }
});

test('retention purges by site policy, respects legal holds, and audits each deletion', async () => {
  const all = await Promise.all((await aude.get('/api/recordings?limit=200')).json<{ recordings: RecordingView[] }>().recordings.map(withDir));
  const held = all.find((r) => r.machine.id === 'cnc-07');
  const siteB = all.filter((r) => r.siteId === 'site-b');
  if (held === undefined || siteB.length === 0) throw new Error('needs recordings');
  expect((await vera.request('PUT', `/api/holds/request/${held.requestId}`, { body: { reason: 'x' } })).status).toBe(403);
  expect((await aude.request('PUT', `/api/holds/request/${held.requestId}`, { body: { reason: 'incident 2026-117' } })).status).toBe(200);
  // Site B keeps recordings 30 days; everything else the default (365).
  await adam.request('PUT', '/api/admin/sites/site-b', { body: { name: 'Plant B (Porto)', retentionDays: 30 } });

  const in40days = new Date(Date.now() + 40 * 86_400_000);
  const first = await portal.services.recordings.service.purge(in40days);
  expect(first.purged).toBe(siteB.length);
  for (const r of siteB) expect(existsSync(folder(r))).toBe(false);
  const purgedEvents = (await aude.get('/api/audit?action=recording.purged&limit=100')).json<{ events: Array<{ target: { id: string } }> }>().events;
  expect(purgedEvents.map((e) => e.target.id).sort()).toEqual(siteB.map((r) => r.sessionId).sort());

  const in400days = new Date(Date.now() + 400 * 86_400_000);
  const second = await portal.services.recordings.service.purge(in400days);
  expect(second.held).toBeGreaterThanOrEqual(1);
  expect(existsSync(folder(held))).toBe(true);
  expect((await aude.get(`/api/recordings?request=${held.requestId}`)).json<{ recordings: unknown[] }>().recordings.length).toBeGreaterThan(0);
});
