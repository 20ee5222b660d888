// Manifest signatures: Ed25519 over the manifest's exact bytes. The public key is exportable
// (API and CLI) so that anyone can verify a recording or an evidence bundle offline.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';

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
