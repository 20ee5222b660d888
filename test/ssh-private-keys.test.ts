// SSH private keys checked when the admin saves them (issue 11 item 9): guacd 1.3 reads only PEM
// RSA keys, and an OpenSSH-format key used to leave the vendor at a "Key passphrase:" prompt.
// Now such a key is converted when saved and signs in through the real guacd; a key guacd cannot
// read is refused at once, naming the formats it reads.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { type Browserless, loginAll } from './support/http.ts';
import { grantNow, seedDemoPlant, sessionTicket } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { testServices } from './support/services.ts';
import { waitFor } from './support/wait.ts';

let dir: string;
let portal: TestPortal;
let adam: Browserless;
let vera: Browserless;
let mona: Browserless;
type Refusal = { error: { code: string; message: string; issues: Array<{ field: string; code: string }> } };

const sshd = () => {
  const s = testServices().sshd;
  if (s?.account.privateKey === undefined) throw new Error('global setup started no sshd with a key');
  return { ...s, privateKey: s.account.privateKey };
};

/** The sshd account's own key, rewritten by ssh-keygen in OpenSSH format (what `ssh-keygen` makes by default). */
function accountKeyInOpenSshFormat(): string {
  const file = path.join(dir, 'id_rsa');
  writeFileSync(file, sshd().privateKey, { mode: 0o600 });
  execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', '', '-f', file]);
  return readFileSync(file, 'utf8');
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-private-keys-'));
  portal = await startTestPortal({ AIRLOCK_RECORDING_SPOOL: dir, AIRLOCK_RECORDING_MIN_FREE_MB: '1' }, { freshDb: 7 });
  await seedDemoPlant(portal, { targets: true });
  [adam, vera, mona] = await loginAll(portal.publicUrl, 'adam', 'vera', 'mona');
  const { host, port, hostKey } = sshd();
  const added = await adam.post('/api/admin/machines', { id: 'key-ssh', name: 'Key login', siteId: 'site-a', protocol: 'ssh', host, port, hostKey });
  expect(added.status).toBe(201);
});

afterAll(async () => {
  await portal?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an OpenSSH-format RSA key saved by the admin is stored as PEM and signs in through guacd 1.3', async () => {
  const openssh = accountKeyInOpenSshFormat();
  expect(openssh).toContain('BEGIN OPENSSH PRIVATE KEY');
  const saved = await adam.request('PUT', '/api/admin/machines/key-ssh/credential', { body: { username: sshd().account.username, privateKey: openssh } });
  expect(saved.status).toBe(204);
  expect((await portal.services.vault.reveal('key-ssh'))?.privateKey).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);

  const grant = await grantNow(portal, vera, mona, 'key-ssh');
  const { ticket, id } = await sessionTicket(vera, grant);
  const opened = await openTunnel(vera, { ticket });
  if (!opened.ok) throw new Error(`tunnel refused: ${opened.status}`);
  const typescript = path.join(dir, `${id}.typescript`);
  // Before: "Key passphrase:" and no shell.
  await waitFor(() => existsSync(typescript) && /[$#] $/m.test(readFileSync(typescript, 'utf8')), { timeoutMs: 20_000, what: 'a shell prompt' });
  expect(readFileSync(typescript, 'utf8')).not.toContain('passphrase');
  await opened.tunnel.close();
});

test('a key guacd cannot read is refused when saved, naming the formats it reads; the credential stays as it was', async () => {
  const before = await portal.services.vault.reveal('key-ssh');
  const file = path.join(dir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file]);
  const res = await adam.request('PUT', '/api/admin/machines/key-ssh/credential', { body: { username: 'op', privateKey: readFileSync(file, 'utf8') } });
  expect(res.status).toBe(400);
  const { error } = res.json<Refusal>();
  expect(error.code).toBe('unsupported_key_format');
  expect(error.issues).toEqual([{ field: 'privateKey', code: 'unsupported_key_format', message: expect.stringContaining('BEGIN RSA PRIVATE KEY') }]);
  expect(error.message).toContain('ed25519');
  expect(await portal.services.vault.reveal('key-ssh')).toEqual(before);

  const onVnc = await adam.request('PUT', '/api/admin/machines/press-hmi/credential', { body: { username: 'op', privateKey: sshd().privateKey } });
  expect([onVnc.status, onVnc.json<Refusal>().error.issues[0]?.field]).toEqual([400, 'privateKey']);
});
