// "Fetch host key" for the admin: reads an SSH server's host keys with OpenSSH's ssh-keyscan
// (openssh-client) and says which one guacd will check. Nothing is saved here: the admin
// confirms the fingerprint and saves it with the machine. The portal reaches the machine for
// this; where only guacd's segment can (the recommended layout), the admin pastes the key.
import { execFile } from 'node:child_process';
import { badRequest, unavailable } from '../errors.ts';
import { HOST_KEY_TYPES, hostKeyFingerprint, parseHostKey, type HostKeyType } from './host-keys.ts';

/** ssh-keyscan's own timeout per connection (seconds): a plant host answers in well under it. */
const SCAN_TIMEOUT_SECONDS = 5;
/** A hard stop for the child, in case it ignores its own timeout (DNS, for one, is not covered by -T). */
const SCAN_KILL_MS = (SCAN_TIMEOUT_SECONDS + 5) * 1000;
/** Far above what a few host keys print; bounds what a hostile server could make us buffer. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** The child gets a clean environment, not the portal's (which holds secrets). */
const SCAN_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

export interface ScannedHostKey {
  type: HostKeyType;
  /** `type base64`, as the machine's `hostKey` takes it. */
  key: string;
  fingerprint: string;
}

export interface HostKeyScan {
  keys: ScannedHostKey[];
  /** The key guacd (libssh2) will negotiate and check: the one to pin. */
  preferred: ScannedHostKey;
}

export async function scanHostKeys(host: string, port: number, bin = 'ssh-keyscan'): Promise<HostKeyScan> {
  // `--` ends the options: a host is never read as one (the schema already forbids spaces and '=').
  const args = ['-T', String(SCAN_TIMEOUT_SECONDS), '-p', String(port), '-t', 'ecdsa,ed25519,rsa', '--', host];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(bin, args, { timeout: SCAN_KILL_MS, maxBuffer: MAX_OUTPUT_BYTES, env: SCAN_ENV }, (err, out) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(unavailable('host_key_fetch_unavailable', 'ssh-keyscan (openssh-client) is not installed on the portal; paste the host key instead.', err));
      } else resolve(String(out));
    });
  });
  const seen = new Map<HostKeyType, ScannedHostKey>();
  for (const line of stdout.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const parsed = parseHostKey(line);
    if (parsed.ok && !seen.has(parsed.type)) seen.set(parsed.type, { type: parsed.type, key: parsed.key, fingerprint: hostKeyFingerprint(parsed.key) });
  }
  const keys = HOST_KEY_TYPES.flatMap((t) => seen.get(t) ?? []);
  const preferred = keys[0];
  if (preferred === undefined) {
    throw badRequest('host_key_fetch_failed', `No SSH host key could be read from ${host}:${port} (not reachable from the portal, or not an SSH server); paste the key instead.`);
  }
  return { keys, preferred };
}
