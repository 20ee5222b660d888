// The credential vault's keyring: `id:base64key` entries, the first current. Parsed at
// start-up (config.ts) so that a bad keyring stops the portal with a clear message.
import { randomBytes } from 'node:crypto';
import { CodedError } from './errors.ts';

const KEY_BYTES = 32;

export interface VaultKey {
  readonly id: string;
  readonly key: Buffer;
}

export class VaultError extends CodedError<'vault_key_unknown' | 'vault_corrupt' | 'vault_bad_keyring'> {}

/**
 * Parses a keyring: lines (or comma-separated entries) of `id:base64key`; the first is current
 * (new encryptions), the others only decrypt, until `rotate` has re-encrypted everything.
 */
export function parseKeyring(text: string): VaultKey[] {
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  if (entries.length === 0) throw new VaultError('vault_bad_keyring', 'the keyring is empty');
  const seen = new Set<string>();
  return entries.map((entry) => {
    const m = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/=_-]+)$/.exec(entry);
    if (m === null) throw new VaultError('vault_bad_keyring', 'each key must be "id:base64" (32 bytes)');
    const [, id = '', b64 = ''] = m;
    const key = Buffer.from(b64, 'base64');
    if (key.length !== KEY_BYTES) throw new VaultError('vault_bad_keyring', `key "${id}" is not 32 bytes`);
    if (seen.has(id)) throw new VaultError('vault_bad_keyring', `key id "${id}" appears twice`);
    seen.add(id);
    return Object.freeze({ id, key });
  });
}

export function generateKeyringEntry(id: string): string {
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}
