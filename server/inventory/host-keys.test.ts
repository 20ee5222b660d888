// SSH host key handling without a network: what an admin may paste, the fingerprint OpenSSH
// shows for it, the known_hosts line guacd gets, and which machines a standard portal refuses.
import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hostKeyFingerprint, hostKeyRefusal, knownHostsLine, parseHostKey } from './host-keys.ts';
import { MODES } from '../config.ts';

/** A fresh host key pair made by ssh-keygen, with the fingerprint ssh-keygen itself prints. */
function sshKeygen(type: 'ed25519' | 'ecdsa' | 'rsa'): { pub: string; fingerprint: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-hostkey-'));
  try {
    const file = path.join(dir, 'key');
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'some comment', '-f', file]);
    const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).split(' ')[1] ?? '';
    return { pub: readFileSync(`${file}.pub`, 'utf8'), fingerprint };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('parseHostKey', () => {
  test.each(['ed25519', 'ecdsa', 'rsa'] as const)('a %s .pub file is kept as "type base64", fingerprinted as ssh-keygen does', (type) => {
    const { pub, fingerprint } = sshKeygen(type);
    const parsed = parseHostKey(pub);
    if (!parsed.ok) throw new Error(parsed.message);
    const [keyType, base64] = pub.trim().split(' ');
    expect(parsed.key).toBe(`${keyType} ${base64}`);
    expect(hostKeyFingerprint(parsed.key)).toBe(fingerprint);
  });

  test('a known_hosts line (as ssh-keyscan prints it) loses its host', () => {
    const { pub } = sshKeygen('ed25519');
    const [type, base64] = pub.trim().split(' ');
    expect(parseHostKey(`[10.1.2.3]:2222 ${type} ${base64}`)).toEqual({ ok: true, key: `${type} ${base64}`, type });
  });

  test.each([
    ['garbage', 'not a key at all'],
    ['ssh-ed25519', 'a type without its key'],
    ['ssh-ed25519 !!!not-base64', 'a key that is not base64'],
    ['ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==', 'an RSA blob labelled ed25519'],
    ['ssh-dss AAAAB3NzaC1kc3MAAACBAP', 'a DSA key'],
    ['@cert-authority *.plant ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICI9UP4LFXySnuzjxXXHEZ8UfSQpNf56zf+llkRooxis', 'a marker line'],
  ])('%s is refused (%s)', (text) => {
    expect(parseHostKey(text).ok).toBe(false);
  });
});

test('the known_hosts line names the host the way libssh2 matches it: [host]:port, or host on 22', () => {
  expect(knownHostsLine('10.0.0.5', 2222, 'ssh-ed25519 AAAA')).toBe('[10.0.0.5]:2222 ssh-ed25519 AAAA');
  expect(knownHostsLine('plc.plant.example', 22, 'ssh-ed25519 AAAA')).toBe('plc.plant.example ssh-ed25519 AAAA');
});

describe('hostKeyRefusal: an unverified SSH host is refused in standard mode only, unless it accepts any key loudly', () => {
  const cases: Array<[string, { protocol: string; hostKey?: string; hostKeyPolicy?: 'pinned' | 'any' }, Record<(typeof MODES)[number], boolean>]> = [
    ['ssh without a key', { protocol: 'ssh' }, { standard: true, demo: false, test: false }],
    ['ssh without a key, policy pinned', { protocol: 'ssh', hostKeyPolicy: 'pinned' }, { standard: true, demo: false, test: false }],
    ['ssh with a pinned key', { protocol: 'ssh', hostKey: 'ssh-ed25519 AAAA' }, { standard: false, demo: false, test: false }],
    ['ssh accepting any key', { protocol: 'ssh', hostKeyPolicy: 'any' }, { standard: false, demo: false, test: false }],
    ['vnc', { protocol: 'vnc' }, { standard: false, demo: false, test: false }],
  ];
  test.each(cases)('%s', (_name, machine, refusedIn) => {
    for (const mode of MODES) expect([mode, hostKeyRefusal(machine, mode)?.code]).toEqual([mode, refusedIn[mode] ? 'host_key_not_pinned' : undefined]);
  });
});
