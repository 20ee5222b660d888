// Issue 14, "File airlock", on real parts: real clamd (generated signatures), real guacd, real
// sshd with SFTP and xrdp. Files into the plant land in quarantine, are hashed and scanned, then
// released (automatically or by a plant manager) and delivered by the portal's own Guacamole
// streams; EICAR never reaches the machine; a scanner that is down or silent fails closed; size
// and type limits refuse with a clear code; downloads out of the plant are held, then released;
// VNC says it cannot; the evidence bundle carries the files with their hashes and scan results.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { grantNow, seedDemoPlant, sessionEnd } from './support/workflow.ts';
import { openSession, type Tunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { redisDbUrl, testServices } from './support/services.ts';
import type { FileView } from '../sessions/files/airlock.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import type { Machine } from '../server/inventory/schema.ts';

const DB = 8;
const WAIT = { timeoutMs: 30_000 };
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

let stateDir: string;
let spool: string;
let store: string;
let quarantine: string;
let drives: string;
let portal: TestPortal;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;
let adam: Browserless;

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const sshHome = (): string => {
  const user = testServices().sshd?.account.username ?? '';
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${user}:`)) ?? '';
  return line.split(':')[5] ?? '';
};

/** The vendor's upload, as the session screen sends it: the body is the file. */
async function upload(agent: Browserless, sessionId: string, name: string, body: Buffer | string, base = agent.base): Promise<{ status: number; json: { file?: FileView; error?: { code: string; message: string } } }> {
  const res = await fetch(new URL(`/api/sessions/${sessionId}/files?name=${encodeURIComponent(name)}`, base), {
    method: 'PUT',
    headers: { cookie: agent.cookieHeader(), origin: new URL(agent.base).origin, 'content-type': 'application/octet-stream', accept: 'application/json' },
    body: new Uint8Array(typeof body === 'string' ? Buffer.from(body) : body),
  });
  return { status: res.status, json: (await res.json()) as { file?: FileView; error?: { code: string; message: string } } };
}

async function fileState(sessionId: string, fileId: string, agent: Browserless = vera): Promise<FileView | undefined> {
  return (await agent.get(`/api/sessions/${sessionId}/files`)).json<{ files: FileView[] }>().files.find((f) => f.id === fileId);
}

async function waitState(sessionId: string, fileId: string, state: FileView['state']): Promise<FileView> {
  let seen: FileView | undefined;
  try {
    await waitFor(async () => (seen = await fileState(sessionId, fileId))?.state === state, { ...WAIT, what: `the file to be ${state}` });
  } catch (err) {
    throw new Error(`${(err as Error).message}; it is ${JSON.stringify(seen)}`);
  }
  return seen as FileView;
}

async function setSiteFiles(files: Record<string, unknown>): Promise<void> {
  const res = await adam.request('PUT', '/api/admin/sites/site-a/files', { body: files });
  if (res.status !== 200) throw new Error(`site files not saved (${res.status}): ${res.text}`);
}

/** No instruction of the portal's own streams reached the browser. */
function browserSawNoPortalStream(tunnel: Tunnel): void {
  expect(tunnel.instructions.filter((i) => i[0] === 'ack' && Number(i[1]) >= 60)).toEqual([]);
  expect(tunnel.instructions.filter((i) => i[0] === 'file' || i[0] === 'body')).toEqual([]);
}

async function sessionAudit(sessionId: string): Promise<AuditEvent[]> {
  return (await aude.get(`/api/audit?target=session:${sessionId}&limit=200`)).json<{ events: AuditEvent[] }>().events;
}

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-files-'));
  spool = path.join(stateDir, 'spool');
  store = path.join(stateDir, 'store');
  quarantine = path.join(stateDir, 'quarantine');
  drives = path.join(stateDir, 'drives');
  // The drive root exists on guacd's host (here: this one); guacd creates each session's folder in it.
  mkdirSync(drives, { mode: 0o700 });
  portal = await startTestPortal(
    {
      AIRLOCK_RECORDING_SPOOL: spool,
      AIRLOCK_RECORDING_STORE: store,
      AIRLOCK_RECORDING_MIN_FREE_MB: '1',
      AIRLOCK_QUARANTINE_DIR: quarantine,
      AIRLOCK_RDP_DRIVE_ROOT: drives,
      AIRLOCK_MAX_SESSIONS_PER_USER: '10',
    },
    { freshDb: DB },
  );
  await seedDemoPlant(portal, { targets: true });
  [vera, mona, aude, adam] = await Promise.all((['vera', 'mona', 'aude', 'adam'] as const).map((u) => loginAs(portal.publicUrl, u))) as [Browserless, Browserless, Browserless, Browserless];
});

afterAll(async () => {
  await portal?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('into the plant over SSH (SFTP)', () => {
  let grant: string;
  let session: { id: string; tunnel: Tunnel };

  beforeAll(async () => {
    grant = await grantNow(portal, vera, mona, 'eng-station');
    session = await openSession(vera, grant);
    await session.tunnel.firstFrame(30_000);
  });

  afterAll(async () => {
    await session?.tunnel.close();
  });

  test('a clean file is scanned, released automatically and delivered; it arrives with the same hash', async () => {
    await setSiteFiles({ release: 'auto', downloads: 'approval' });
    const content = Buffer.concat([Buffer.from('firmware notes\n'), Buffer.alloc(300_000, 7)]);
    const name = `notes-${Date.now()}.txt`;
    const res = await upload(vera, session.id, name, content);
    expect(res.status).toBe(201);
    expect(res.json.file).toMatchObject({ name, bytes: content.length, sha256: sha256(content), scan: { result: 'clean', engine: 'clamd' }, decision: { by: null, outcome: 'released' } });
    const delivered = await waitState(session.id, res.json.file?.id ?? '', 'delivered');
    expect(delivered.deliveredAt).not.toBeNull();
    const onTarget = path.join(sshHome(), name);
    expect(existsSync(onTarget)).toBe(true);
    expect(sha256(readFileSync(onTarget))).toBe(sha256(content));
    browserSawNoPortalStream(session.tunnel);
    // The audit event follows the state it records (a moment later): wait for it.
    let actions: string[] = [];
    await waitFor(
      async () => {
        actions = (await sessionAudit(session.id)).filter((e) => e.details['fileId'] === res.json.file?.id).map((e) => e.action);
        return actions.includes('file.delivered');
      },
      { timeoutMs: 10_000, what: 'the file.delivered audit event' },
    ).catch(() => undefined);
    expect(actions).toEqual(expect.arrayContaining(['file.uploaded', 'file.scanned', 'file.released', 'file.delivered']));
  });

  test('with approval required, the file waits (quarantined, not on the machine) until a plant manager releases it', async () => {
    await setSiteFiles({ release: 'approval', downloads: 'approval' });
    const name = `recipe-${Date.now()}.csv`;
    const res = await upload(vera, session.id, name, 'speed,feed\n1200,0.3\n');
    expect(res.json.file).toMatchObject({ state: 'awaiting_approval', scan: { result: 'clean' } });
    const id = res.json.file?.id ?? '';
    expect(existsSync(path.join(sshHome(), name))).toBe(false);
    // The plant sees what it decides on: name, size, hash, scan result.
    const pending = (await mona.get('/api/files/pending')).json<{ files: FileView[] }>().files;
    expect(pending).toEqual(expect.arrayContaining([expect.objectContaining({ id, name, sha256: res.json.file?.sha256, scan: expect.objectContaining({ result: 'clean' }) })]));
    // The vendor cannot release their own file.
    expect((await vera.post(`/api/files/${id}/release`, {})).json<{ error: { code: string } }>().error.code).toBe('own_file');
    const released = await mona.post(`/api/files/${id}/release`, { reason: 'recipe for line 2' });
    expect(released.status).toBe(200);
    await waitState(session.id, id, 'delivered');
    expect(readFileSync(path.join(sshHome(), name), 'utf8')).toBe('speed,feed\n1200,0.3\n');
    // Decided once: a second click is refused.
    expect((await mona.post(`/api/files/${id}/release`, {})).json<{ error: { code: string } }>().error.code).toBe('file_not_waiting');
  });

  test('EICAR is blocked, never delivered, and the plant is told (audit, timeline)', async () => {
    await setSiteFiles({ release: 'auto', downloads: 'approval' });
    for (const [name, body] of [[`eicar-${Date.now()}.com`, EICAR], [`marked-${Date.now()}.bin`, `padding ${testServices().clamd?.testMarker ?? ''} padding`]] as const) {
      const res = await upload(vera, session.id, name, body);
      expect(res.status).toBe(201);
      expect(res.json.file).toMatchObject({ state: 'blocked', scan: { result: 'infected', signature: expect.stringMatching(/^Airlock\.Test\./) }, problem: { code: 'file_infected' } });
      expect(existsSync(path.join(sshHome(), name))).toBe(false);
      expect(existsSync(path.join(quarantine, session.id, res.json.file?.id ?? ''))).toBe(false);
      const blocked = (await sessionAudit(session.id)).find((e) => e.action === 'file.blocked' && e.details['fileId'] === res.json.file?.id);
      expect(blocked).toMatchObject({ outcome: 'refused', site: 'site-a', details: { sha256: sha256(body), scan: 'infected' } });
    }
  });

  test('size and type limits refuse with a clear error, before anything is scanned', async () => {
    await setSiteFiles({ release: 'auto', maxBytes: 1000, blockedTypes: ['.exe'] });
    const big = await upload(vera, session.id, 'big.txt', Buffer.alloc(5000, 1));
    expect(big.status).toBe(413);
    expect(big.json.error).toMatchObject({ code: 'file_too_large', message: expect.stringContaining('1000 bytes') });
    const exe = await upload(vera, session.id, 'setup.exe', 'MZ');
    expect(exe.status).toBe(415);
    expect(exe.json.error?.code).toBe('file_type_not_allowed');
    await setSiteFiles({ release: 'auto', allowedTypes: ['.txt'] });
    expect((await upload(vera, session.id, 'tool.sh', 'echo')).json.error?.code).toBe('file_type_not_allowed');
    expect((await upload(vera, session.id, '../../tmp/readme.txt', 'x')).json.file?.name).toBe('readme.txt'); // the name is its last part only
    await setSiteFiles({ release: 'auto', downloads: 'approval' });
  });

  test('the browser’s own file streams never reach guacd, even on a grant that allows files', async () => {
    const name = `sneaky-${Date.now()}.txt`;
    session.tunnel.send('file', '1', 'text/plain', name);
    session.tunnel.send('blob', '1', Buffer.from('unscanned').toString('base64'));
    session.tunnel.send('end', '1');
    // The portal's stream indices are not the browser's either.
    session.tunnel.send('blob', '63', Buffer.from('unscanned').toString('base64'));
    session.tunnel.typeText('true\n');
    const events = path.join(spool, `${session.id}.events.jsonl`);
    await waitFor(() => readFileSync(events, 'utf8').includes('"reason":"portal_stream"'), { ...WAIT, what: 'the blocked portal stream in the input log' });
    expect(readFileSync(events, 'utf8')).toContain('"reason":"files_through_airlock_only"');
    expect(existsSync(path.join(sshHome(), name))).toBe(false);
  });

  test('a download out of the plant is held (the browser gets nothing) until a plant manager releases it', async () => {
    const name = `log-${Date.now()}.txt`;
    const text = 'spindle load 83%\n'.repeat(2000);
    const file = path.join(sshHome(), name);
    // Written by root into the vendor's home; the shell then asks guacd to download it (guacctl's escape).
    execFileSync('sh', ['-c', `printf '%s' "$0" > "$1" && chmod 644 "$1"`, text, file]);
    session.tunnel.typeText(`printf '\\033]482200;%s\\007' ${file}\n`);
    let held: FileView | undefined;
    await waitFor(async () => (held = (await vera.get(`/api/sessions/${session.id}/files`)).json<{ files: FileView[] }>().files.find((f) => f.direction === 'out' && f.name === name)) !== undefined, { ...WAIT, what: 'the download’s record' });
    expect(held).toMatchObject({ state: 'awaiting_approval', bytes: text.length, sha256: sha256(text) });
    browserSawNoPortalStream(session.tunnel);
    const early = await vera.get(`/api/files/${held?.id ?? ''}/content`);
    expect(early.status).toBe(409);
    expect(early.json<{ error: { code: string } }>().error.code).toBe('file_not_released');
    expect((await mona.post(`/api/files/${held?.id ?? ''}/release`, {})).status).toBe(200);
    const got = await vera.get(`/api/files/${held?.id ?? ''}/content`);
    expect(got.status).toBe(200);
    expect(got.text).toBe(text);
    // Kept with the recording: the bytes sit beside it in the spool until finalised.
    expect(sha256(readFileSync(path.join(spool, `${session.id}.transfers`, held?.id ?? '')))).toBe(sha256(text));
  });

  test('the evidence bundle carries the files, their hashes and scan results, signed in the manifest', async () => {
    await session.tunnel.close();
    await sessionEnd(aude, session.id);
    await waitFor(async () => (await portal.services.recordings.catalog.get(session.id)) !== undefined, { ...WAIT, what: 'the finalised recording' });
    const verification = (await aude.get(`/api/recordings/${session.id}/verify`)).json<{ verification: { ok: boolean } }>().verification;
    expect(verification.ok).toBe(true);
    const res = await fetch(new URL(`/api/requests/${grant}/bundle`, portal.publicUrl), { headers: { cookie: aude.cookieHeader() } });
    expect(res.status).toBe(200);
    const out = path.join(stateDir, 'bundle');
    rmSync(out, { recursive: true, force: true });
    execFileSync('mkdir', ['-p', out]);
    execFileSync('tar', ['-xzf', '-', '-C', out], { input: Buffer.from(await res.arrayBuffer()) });
    const folder = path.join(out, `airlock-request-${grant}`, 'sessions', session.id);
    const manifest = JSON.parse(readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as {
      files: Array<{ kind: string; name: string; sha256: string }>;
      transfers: Array<{ id: string; direction: string; name: string; sha256: string; state: string; scan: { result: string; signature: string | null } | null; storedAs: string | null }>;
    };
    const delivered = manifest.transfers.filter((t) => t.state === 'delivered');
    const blocked = manifest.transfers.filter((t) => t.state === 'blocked');
    const downloads = manifest.transfers.filter((t) => t.direction === 'out');
    expect(delivered.length).toBeGreaterThanOrEqual(2);
    expect(blocked.length).toBe(2);
    expect(blocked.every((t) => t.scan?.result === 'infected' && t.storedAs === null)).toBe(true);
    expect(downloads).toHaveLength(1);
    for (const t of [...delivered, ...downloads]) {
      expect(t.storedAs).toBe(`transfer-${t.id}`);
      expect(sha256(readFileSync(path.join(folder, t.storedAs ?? '')))).toBe(t.sha256);
      expect(manifest.files).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'transfer', name: t.storedAs, sha256: t.sha256 })]));
    }
    expect(manifest.files).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'transfers', name: 'transfers.json' })]));
    expect(readdirSync(folder)).not.toContain(`${session.id}.transfers`);
    // Every transfer is a moment of the recording's timeline.
    const timeline = (await aude.get(`/api/recordings/${session.id}/timeline`)).json<{ timeline: Array<{ kind: string; label: string }> }>().timeline;
    expect(timeline.filter((e) => e.kind === 'file').map((e) => e.label)).toEqual(expect.arrayContaining([expect.stringContaining('file.blocked'), expect.stringContaining('file.delivered')]));
  });
});

describe('a scanner that is down or silent fails closed', () => {
  test('scanner timeout, then scanner unavailable: 503 with a stable code, nothing released or delivered', async () => {
    // A second instance (same Redis and quarantine) whose clamd accepts and never answers.
    const silentSocket = path.join(stateDir, 'silent-clamd.sock');
    const held: net.Socket[] = [];
    const silent = net.createServer((s) => held.push(s));
    await new Promise<void>((resolve) => silent.listen(silentSocket, resolve));
    const other = await startTestPortal({
      AIRLOCK_REDIS_URL: redisDbUrl(DB),
      AIRLOCK_RECORDING_SPOOL: spool,
      AIRLOCK_RECORDING_STORE: store,
      AIRLOCK_RECORDING_MIN_FREE_MB: '1',
      AIRLOCK_QUARANTINE_DIR: quarantine,
      AIRLOCK_CLAMD: `unix:${silentSocket}`,
      AIRLOCK_CLAMD_TIMEOUT_MS: '500',
    });
    try {
      await setSiteFiles({ release: 'auto', downloads: 'approval' });
      const grant = await grantNow(portal, vera, mona, 'eng-station');
      const session = await openSession(vera, grant);
      await session.tunnel.firstFrame(30_000);
      const veraThere = await loginAs(other.publicUrl, 'vera');
      const name = `late-${Date.now()}.txt`;
      const timedOut = await upload(veraThere, session.id, name, 'hello');
      expect(timedOut.status).toBe(503);
      expect(timedOut.json.error).toMatchObject({ code: 'scanner_timeout', message: expect.stringContaining('Nothing was released') });
      for (const s of held) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
      const down = await upload(veraThere, session.id, name, 'hello');
      expect(down.status).toBe(503);
      expect(down.json.error?.code).toBe('scanner_unavailable');
      const files = (await vera.get(`/api/sessions/${session.id}/files`)).json<{ files: FileView[] }>().files;
      expect(files.map((f) => [f.state, f.problem?.code])).toEqual([
        ['failed', 'scanner_timeout'],
        ['failed', 'scanner_unavailable'],
      ]);
      expect(existsSync(path.join(sshHome(), name))).toBe(false);
      expect(readdirSync(path.join(quarantine, session.id))).toEqual([]);
      const failed = (await sessionAudit(session.id)).filter((e) => e.action === 'file.scan_failed').map((e) => e.reason);
      expect(failed.sort()).toEqual(['scanner_timeout', 'scanner_unavailable']);
      await session.tunnel.close();
    } finally {
      await other.close();
    }
  });
});

describe('other protocols', () => {
  test('RDP: a released file is delivered into the session’s redirected drive folder', async () => {
    await setSiteFiles({ release: 'auto', downloads: 'approval' });
    const grant = await grantNow(portal, vera, mona, 'mes-terminal');
    const session = await openSession(vera, grant);
    await session.tunnel.firstFrame(60_000);
    const content = Buffer.alloc(100_000, 3);
    const name = `plan-${Date.now()}.txt`;
    const res = await upload(vera, session.id, name, content);
    expect(res.status).toBe(201);
    await waitState(session.id, res.json.file?.id ?? '', 'delivered');
    expect(sha256(readFileSync(path.join(drives, session.id, name)))).toBe(sha256(content));
    browserSawNoPortalStream(session.tunnel);
    await session.tunnel.close();
  });

  test('VNC: the API and the session screen say file transfer is not supported', async () => {
    const hmi = (await portal.services.inventory.machine('press-hmi')) as Machine;
    await portal.services.inventory.putMachine({ ...hmi, id: 'press-hmi-files', policy: { ...hmi.policy, fileTransfer: true } });
    const credential = await portal.services.vault.reveal('press-hmi');
    if (credential !== undefined) await portal.services.vault.store('press-hmi-files', credential);
    const grant = await grantNow(portal, vera, mona, 'press-hmi-files');
    const session = await openSession(vera, grant);
    await session.tunnel.firstFrame(30_000);
    const list = (await vera.get(`/api/sessions/${session.id}/files`)).json<{ supported: boolean; reason: string }>();
    expect(list).toMatchObject({ supported: false, reason: expect.stringContaining('not supported for VNC') });
    const res = await upload(vera, session.id, 'a.txt', 'x');
    expect(res.status).toBe(422);
    expect(res.json.error).toMatchObject({ code: 'files_unsupported', message: expect.stringContaining('VNC') });
    await session.tunnel.close();
  });
});
