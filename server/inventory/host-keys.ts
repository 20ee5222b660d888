// SSH host keys: the pinned key of an SSH machine in OpenSSH public-key form (`ssh-ed25519
// AAAA…`), its SHA256 fingerprint for the admin to confirm, the known_hosts line guacd's
// `host-key` parameter takes, and the rule that refuses SSH sessions to unverified hosts.
import { createHash } from 'node:crypto';
import { forbidden, type AppError } from '../errors.ts';
import type { Mode } from '../config.ts';

/**
 * The host key types guacd can check, in the order libssh2 (guacd 1.3 and 1.6 on Debian, libssh2
 * 1.10) negotiates them: against a server with several host keys, guacd verifies the first of
 * these the server has, so that is the one to pin (verified: pinning ed25519 of a server that also
 * has an ECDSA key fails the check). ssh-dss is left out: OpenSSH disabled it years ago.
 */
export const HOST_KEY_TYPES = ['ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-ed25519', 'ssh-rsa'] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** Longest key line accepted: an RSA 16384-bit public key is ~2.8 KB of base64. */
export const MAX_HOST_KEY_LENGTH = 4096;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export type HostKeyParse = { ok: true; key: string; type: HostKeyType } | { ok: false; message: string };

/** The first SSH `string` of a key blob: its type name (RFC 4253 §6.6). */
function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return undefined;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/**
 * Reads what an admin pastes: a public key (`type base64 [comment]`, as in a `.pub` file) or a
 * known_hosts line (`host type base64`). Keeps only `type base64`, after checking that the
 * base64 decodes to a key blob of that type.
 */
export function parseHostKey(text: string): HostKeyParse {
  const words = text.trim().split(/\s+/);
  const at = words.findIndex((w) => (HOST_KEY_TYPES as readonly string[]).includes(w));
  const type = words[at] as HostKeyType | undefined;
  const base64 = words[at + 1];
  if (at < 0 || type === undefined) {
    return { ok: false, message: `a public host key: one of ${HOST_KEY_TYPES.join(', ')}, then its base64 (as in /etc/ssh/ssh_host_*_key.pub)` };
  }
  if (at > 1) return { ok: false, message: 'a single host key line (type and base64)' };
  if (base64 === undefined || !BASE64.test(base64)) return { ok: false, message: `the base64 of the ${type} key after its type` };
  const blob = Buffer.from(base64, 'base64');
  if (blob.toString('base64') !== base64 || blobType(blob) !== type) return { ok: false, message: `a complete ${type} key (the base64 does not decode to one)` };
  return { ok: true, key: `${type} ${base64}`, type };
}

/** OpenSSH's fingerprint of a host key: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function hostKeyFingerprint(key: string): string {
  const base64 = key.split(' ')[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(base64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/**
 * guacd's `host-key` parameter: one OpenSSH known_hosts line, whose host must be the one guacd
 * dials (libssh2 matches `[host]:port`, then `host`). Verified against guacd 1.3.0: the bare
 * key (`type base64`) or the base64 alone fail every connection with status 512.
 */
export function knownHostsLine(host: string, port: number, key: string): string {
  return `${port === 22 ? host : `[${host}]:${port}`} ${key}`;
}

/** What an SSH machine says about its host key. */
export interface HostKeyPinning {
  protocol: string;
  hostKey?: string | undefined;
  hostKeyPolicy?: 'pinned' | 'any' | undefined;
}

/**
 * The ticket office's rule: outside the demo and test modes, an SSH session needs a pinned host
 * key, unless the machine says, loudly, that any key is accepted. Otherwise a spoofed machine
 * (DNS, ARP, a swapped device) would receive the plant's credential.
 */
export function hostKeyRefusal(machine: HostKeyPinning, mode: Mode): AppError | undefined {
  if (machine.protocol !== 'ssh' || machine.hostKey !== undefined || machine.hostKeyPolicy === 'any' || mode !== 'standard') return undefined;
  return forbidden('host_key_not_pinned', "This machine's SSH host key is not pinned, so Airlock cannot verify it is the real machine; ask an administrator to pin it.");
}

/**
 * For the mapping of guacd's errors: an SSH machine with a pinned key whose attempt ended with
 * guacd status 512 (SERVER_ERROR) before the first frame most likely presented another host key.
 * guacd 1.3 says only "Aborted. See logs." (1.6: "Host key did not match any provided known host
 * keys."); verified against guacd 1.3.0 and OpenSSH 9.2: ~0.1 s after `ready`, no password sent.
 * The other SSH failures measured there differ: closed port 519, not an SSH server 515, refused
 * password 769 (after a prompt is drawn).
 */
export function likelyHostKeyMismatch(machine: HostKeyPinning, guacdStatus: number): boolean {
  return machine.protocol === 'ssh' && machine.hostKey !== undefined && guacdStatus === 512;
}

/** What the vendor and the audit are told when guacd refuses an SSH connection to a pinned machine before its first frame. */
export const HOST_KEY_MISMATCH_MESSAGE =
  "The machine's SSH host key does not match the one pinned in Airlock, so the connection was refused: the machine may have been replaced or its address taken over. Ask the plant to check it.";
