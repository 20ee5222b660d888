// Seals refresh tokens at rest: AES-256-GCM under keys derived (HKDF-SHA-256) from the vault
// keyring, bound to the browser session they belong to. A refresh token is never in Redis in clear.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { VaultKey } from '../keyring.ts';

/** GCM's recommended nonce size. */
const IV_BYTES = 12;
/** The full GCM tag: a shorter one would weaken the authentication, so it is refused. */
const TAG_BYTES = 16;
/** Format marker, so a future scheme can be told apart. */
const FORMAT = 't1';
/**
 * Domain separation: the vault's keys seal machine credentials with the key itself; this derives
 * a key of its own per keyring entry, so a blob of one kind can never be opened as the other.
 */
const HKDF_INFO = 'airlock refresh-token seal v1';

export class TokenSealError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenSealError';
  }
}

export class TokenSeal {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly currentId: string;

  /** `keyring` as parsed by keyring.ts: the first entry seals, every entry opens. */
  constructor(keyring: readonly VaultKey[]) {
    const first = keyring[0];
    if (first === undefined) throw new TokenSealError('the keyring is empty');
    this.currentId = first.id;
    this.keys = new Map(keyring.map((k) => [k.id, Buffer.from(hkdfSync('sha256', k.key, Buffer.alloc(0), HKDF_INFO, 32))]));
  }

  /** `context` (the browser session id) is authenticated: a blob moved to another record does not open. */
  seal(token: string, context: string): string {
    const key = this.keys.get(this.currentId);
    if (key === undefined) throw new TokenSealError('no current key');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`airlock-refresh:${context}`));
    const ciphertext = Buffer.concat([cipher.update(token, 'utf8'), cipher.final()]);
    return [FORMAT, this.currentId, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
  }

  open(sealed: string, context: string): string {
    const [format, keyId, iv, tag, ciphertext] = sealed.split('.');
    if (format !== FORMAT || keyId === undefined || iv === undefined || tag === undefined || ciphertext === undefined) {
      throw new TokenSealError('the sealed refresh token is malformed');
    }
    const key = this.keys.get(keyId);
    if (key === undefined) throw new TokenSealError(`the refresh token is sealed under key "${keyId}", which is not in the keyring`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(`airlock-refresh:${context}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new TokenSealError('the sealed refresh token does not open (tampered, or moved from another sign-in)');
    }
  }
}
