// Manifest signatures: Ed25519 over the manifest's exact bytes. The public key is exportable
// (API and CLI) so that anyone can verify a recording or an evidence bundle offline. The same
// secret also yields, by HKDF, the key of the search index's word hashes (catalog.ts).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';

/**
 * HKDF-SHA-256 labels: the salt names the application, the info the one use of the derived key.
 * A new use gets a new info string, never this key; a new index format gets `…/v2`.
 */
const HKDF_SALT = 'airlock';
const SEARCH_INDEX_KEY_INFO = 'airlock/recordings/search-index/v1';

export class ManifestSigner {
  private readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Short fingerprint of the public key: which key signed a manifest. */
  readonly keyId: string;

  constructor(privateKeyPem: string | undefined) {
    this.privateKey = privateKeyPem === undefined ? generateKeyPairSync('ed25519').privateKey : createPrivateKey(privateKeyPem);
    this.publicKey = createPublicKey(this.privateKey);
    this.keyId = keyIdOf(this.publicKey);
  }

  /**
   * The HMAC key of the search index: derived from the signing key, so it lives where that key
   * lives (same file, same custody, nothing more to configure or back up) and the two cannot
   * drift apart between instances. Whoever holds the signing key can forge evidence anyway, so
   * also being able to test a guessed word against the index adds nothing to that key's worth.
   */
  searchIndexKey(): Buffer {
    const ikm = this.privateKey.export({ format: 'der', type: 'pkcs8' });
    return Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, SEARCH_INDEX_KEY_INFO, 32));
  }

  sign(bytes: Buffer): string {
    return sign(null, bytes, this.privateKey).toString('base64');
  }

  publicKeyPem(): string {
    return this.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  }
}

export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ format: 'der', type: 'spki' })).digest('hex').slice(0, 16);
}

export function verifySignature(bytes: Buffer, signatureBase64: string, publicKeyPem: string | KeyObject): boolean {
  try {
    const key = typeof publicKeyPem === 'string' ? createPublicKey(publicKeyPem) : publicKeyPem;
    return verify(null, bytes, key, Buffer.from(signatureBase64, 'base64'));
  } catch {
    return false;
  }
}
