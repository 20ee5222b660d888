// A fresh Ed25519 signing key pair on disk: the private key a portal signs recordings with
// (AIRLOCK_SIGNING_KEY_FILE) and the public key the CLI verifies them with (--public-key).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

/** Writes `signing.pem` (PKCS#8) and `public.pem` (SPKI) into `dir`; resolves with their paths. */
export function writeSigningKeys(dir: string): { keyFile: string; pubFile: string } {
  const keyFile = path.join(dir, 'signing.pem');
  const pubFile = path.join(dir, 'public.pem');
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  writeFileSync(pubFile, publicKey.export({ format: 'pem', type: 'spki' }));
  return { keyFile, pubFile };
}
