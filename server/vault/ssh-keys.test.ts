// Private keys as guacd 1.3 reads them, checked with keys ssh-keygen and openssl make: RSA in
// OpenSSH or PKCS#8 form becomes the same key in PEM; every other format is refused by name.
import { afterAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ACCEPTED_KEY_FORMATS, checkPrivateKey } from './ssh-keys.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'airlock-ssh-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A key from ssh-keygen: its private file's text and its public key line (type base64). */
function keygen(args: string[]): { text: string; pub: string } {
  const file = path.join(dir, `k${n++}`);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', 'test', ...args, '-f', file]);
  return { text: readFileSync(file, 'utf8'), pub: readFileSync(`${file}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ') };
}

/** The public key ssh-keygen derives from a private key text: proof that a conversion kept the key. */
function publicOf(text: string): string {
  const file = path.join(dir, `p${n++}`);
  writeFileSync(file, text, { mode: 0o600 });
  return execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
}

describe('keys guacd 1.3 can use', () => {
  test('an OpenSSH-format RSA key (ssh-keygen’s default) is converted to PEM RSA, the same key', () => {
    const { text, pub } = keygen(['-t', 'rsa', '-b', '2048']);
    expect(text).toContain('BEGIN OPENSSH PRIVATE KEY');
    const checked = checkPrivateKey(text);
    if (!checked.ok) throw new Error(checked.message);
    expect(checked.pem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(publicOf(checked.pem)).toBe(pub);
  });

  test('a PKCS#8 RSA key is converted to PEM RSA; a PEM RSA key (pasted with CRLF) is kept', () => {
    const { text, pub } = keygen(['-t', 'rsa', '-b', '2048', '-m', 'PKCS8']);
    expect(text).toContain('BEGIN PRIVATE KEY');
    const fromPkcs8 = checkPrivateKey(text);
    if (!fromPkcs8.ok) throw new Error(fromPkcs8.message);
    expect(publicOf(fromPkcs8.pem)).toBe(pub);
    const pem = keygen(['-t', 'rsa', '-b', '2048', '-m', 'PEM']);
    const kept = checkPrivateKey(pem.text.replace(/\n/g, '\r\n'));
    if (!kept.ok) throw new Error(kept.message);
    expect(publicOf(kept.pem)).toBe(pem.pub);
  });
});

describe('keys guacd 1.3 cannot use are refused, naming the formats it reads', () => {
  const refusals: Array<[string, () => string, string]> = [
    ['an OpenSSH ed25519 key', () => keygen(['-t', 'ed25519']).text, 'unsupported_key_format'],
    ['an OpenSSH ECDSA key', () => keygen(['-t', 'ecdsa']).text, 'unsupported_key_format'],
    ['a PEM ECDSA key', () => keygen(['-t', 'ecdsa', '-m', 'PEM']).text, 'unsupported_key_format'],
    ['a PKCS#8 ed25519 key', () => execFileSync('openssl', ['genpkey', '-algorithm', 'ed25519'], { encoding: 'utf8' }), 'unsupported_key_format'],
    ['a passphrase-protected OpenSSH RSA key', () => execFileKey(['-t', 'rsa', '-b', '2048', '-N', 'secret-pass']), 'encrypted_private_key'],
    ['a passphrase-protected PEM RSA key', () => execFileKey(['-t', 'rsa', '-b', '2048', '-m', 'PEM', '-N', 'secret-pass']), 'encrypted_private_key'],
    ['a PuTTY key', () => 'PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: x\nPublic-Lines: 1\nAAAA\n', 'unsupported_key_format'],
    ['a public key', () => keygen(['-t', 'rsa', '-b', '2048']).pub, 'unsupported_key_format'],
    ['a truncated OpenSSH key', () => truncated(keygen(['-t', 'rsa', '-b', '2048']).text), 'unsupported_key_format'],
    ['a truncated PEM key', () => truncated(keygen(['-t', 'rsa', '-b', '2048', '-m', 'PEM']).text), 'unsupported_key_format'],
  ];
  test.each(refusals)('%s', (_name, make, code) => {
    const checked = checkPrivateKey(make());
    expect(checked).toEqual({ ok: false, code, message: expect.stringContaining(ACCEPTED_KEY_FORMATS) });
  });

  test('a refusal never repeats the key', () => {
    const text = keygen(['-t', 'ed25519']).text;
    const checked = checkPrivateKey(text);
    const body = text.split('\n')[1] ?? '';
    expect(checked.ok ? '' : checked.message).not.toContain(body.slice(0, 20));
  });
});

/** ssh-keygen with its own -N (passphrase) given in args. */
function execFileKey(args: string[]): string {
  const file = path.join(dir, `e${n++}`);
  execFileSync('ssh-keygen', ['-q', '-C', 'test', ...args, '-f', file]);
  return readFileSync(file, 'utf8');
}

/** The key with its body cut in the middle, armour kept. */
function truncated(text: string): string {
  const lines = text.trim().split('\n');
  return [...lines.slice(0, Math.floor(lines.length / 2)), lines[lines.length - 1]].join('\n') + '\n';
}
