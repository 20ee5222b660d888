// SSH private keys as guacd can read them, checked when an admin saves one: guacd 1.3 reads
// only unencrypted PEM RSA keys (`BEGIN RSA PRIVATE KEY`, OpenSSL's PEM_read_bio_RSAPrivateKey);
// anything else leaves the vendor at a "Key passphrase:" prompt at session time. OpenSSH-format
// and PKCS#8 RSA keys are converted to that PEM; every other format is refused, saying which work.
import { createPrivateKey, createPublicKey, KeyObject, sign, verify } from 'node:crypto';
import { invalidFields } from '../errors.ts';

/** What the refusal tells the admin, whatever was pasted. */
export const ACCEPTED_KEY_FORMATS =
  'guacd 1.3 reads unencrypted RSA private keys only: PEM ("BEGIN RSA PRIVATE KEY"), or OpenSSH ("BEGIN OPENSSH PRIVATE KEY") and PKCS#8 ("BEGIN PRIVATE KEY") RSA keys, which Airlock converts to PEM. Make one with: ssh-keygen -t rsa -b 3072 -m PEM -N ""';
/** OpenSSH refuses shorter RSA keys; so would the machine. */
const MIN_RSA_BITS = 1024;

export type KeyCheck = { ok: true; pem: string } | { ok: false; code: 'unsupported_key_format' | 'encrypted_private_key'; message: string };

const refuse = (what: string): KeyCheck => ({ ok: false, code: 'unsupported_key_format', message: `${what}. ${ACCEPTED_KEY_FORMATS}` });
const encrypted = (): KeyCheck => ({
  ok: false,
  code: 'encrypted_private_key',
  message: `This key is protected by a passphrase, which Airlock cannot pass to guacd; remove it (ssh-keygen -p -N "" -f KEY) before saving. ${ACCEPTED_KEY_FORMATS}`,
});

/** The PEM block's label (`RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`, …) and its base64 body, if the text is one. */
function pemBlock(text: string): { label: string; headers: string; body: string } | undefined {
  const m = /^-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----\s*$/.exec(text.trim() + '\n');
  if (m === null) return undefined;
  const inner = m[2] ?? '';
  // RFC 1421 headers (Proc-Type, DEK-Info) end at the first blank line.
  const split = /\r?\n\r?\n/.exec(inner);
  const headers = split !== null && /^[A-Za-z-]+:/.test(inner) ? inner.slice(0, split.index) : '';
  const body = (headers === '' ? inner : inner.slice((split?.index ?? 0) + (split?.[0].length ?? 0))).replace(/\s+/g, '');
  return { label: m[1] ?? '', headers, body };
}

/** Reads the SSH wire format (RFC 4251 §5) of an OpenSSH key, every read bounds-checked. */
class SshReader {
  private at = 0;
  private readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  bytes(n: number): Buffer {
    if (n < 0 || this.at + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.bytes(this.uint32());
  }
  text(): string {
    return this.string().toString('latin1');
  }
  /** An mpint as unsigned big-endian bytes without leading zeros (JWK's form). */
  mpint(): Buffer {
    const raw = this.string();
    if (raw.length > 0 && (raw[0] ?? 0) & 0x80) throw new Error('negative mpint');
    let i = 0;
    while (i < raw.length - 1 && raw[i] === 0) i++;
    return raw.subarray(i);
  }
}

const big = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));
const unbig = (n: bigint): Buffer => {
  const hex = n.toString(16);
  return Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, 'hex');
};
const b64u = (b: Buffer): string => b.toString('base64url');

const OPENSSH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** An OpenSSH-format private key: its RSA key as a KeyObject, or why it cannot be used. */
function fromOpenSsh(body: string): KeyObject | KeyCheck {
  const r = new SshReader(Buffer.from(body, 'base64'));
  if (!r.bytes(OPENSSH_MAGIC.length).equals(OPENSSH_MAGIC)) return refuse('This is not a readable OpenSSH private key');
  const cipher = r.text();
  const kdf = r.text();
  r.string(); // kdf options
  if (cipher !== 'none' || kdf !== 'none') return encrypted();
  if (r.uint32() !== 1) return refuse('This OpenSSH file holds several keys; save one');
  const pub = new SshReader(r.string());
  const priv = new SshReader(r.string());
  if (priv.uint32() !== priv.uint32()) return refuse('This OpenSSH private key is corrupt (its check numbers differ)');
  const type = priv.text();
  if (type !== 'ssh-rsa') return refuse(`This is an OpenSSH ${type} key`);
  const n = priv.mpint();
  const e = priv.mpint();
  const d = priv.mpint();
  const iqmp = priv.mpint();
  const p = priv.mpint();
  const q = priv.mpint();
  // The public half must be the same key, and the primes must make the modulus.
  if (pub.text() !== 'ssh-rsa' || !pub.mpint().equals(e) || !pub.mpint().equals(n) || big(p) * big(q) !== big(n)) {
    return refuse('This OpenSSH RSA key is inconsistent (corrupt)');
  }
  const D = big(d);
  return createPrivateKey({
    key: { kty: 'RSA', n: b64u(n), e: b64u(e), d: b64u(d), p: b64u(p), q: b64u(q), dp: b64u(unbig(D % (big(p) - 1n))), dq: b64u(unbig(D % (big(q) - 1n))), qi: b64u(iqmp) },
    format: 'jwk',
  });
}

/** Signs and verifies a probe: a key whose parts do not fit together is caught now, not at the machine. */
function works(key: KeyObject): boolean {
  const probe = Buffer.from('airlock key check');
  return verify('sha256', probe, createPublicKey(key), sign('sha256', probe, key));
}

/** Checks a private key for guacd and returns it as PEM RSA (PKCS#1), or why it is refused. */
export function checkPrivateKey(text: string): KeyCheck {
  if (/^PuTTY-User-Key-File-/m.test(text)) return refuse('This is a PuTTY key (.ppk); export it from PuTTYgen with Conversions → Export OpenSSH key');
  const block = pemBlock(text);
  if (block === undefined) return refuse('This is not a PEM or OpenSSH private key');
  let key: KeyObject;
  try {
    switch (block.label) {
      case 'OPENSSH PRIVATE KEY': {
        const k = fromOpenSsh(block.body);
        if (!(k instanceof KeyObject)) return k;
        key = k;
        break;
      }
      case 'RSA PRIVATE KEY':
      case 'PRIVATE KEY':
        if (/ENCRYPTED/.test(block.headers)) return encrypted();
        key = createPrivateKey({ key: text.trim() + '\n', format: 'pem' });
        break;
      case 'ENCRYPTED PRIVATE KEY':
        return encrypted();
      case 'EC PRIVATE KEY':
        return refuse('This is an ECDSA key');
      case 'DSA PRIVATE KEY':
        return refuse('This is a DSA key (deprecated; modern OpenSSH refuses it)');
      default:
        return refuse(`This is a "${block.label}", not a private key guacd reads`);
    }
  } catch {
    return refuse('This private key could not be read (truncated or corrupt)');
  }
  if (key.asymmetricKeyType !== 'rsa') return refuse(`This is an ${String(key.asymmetricKeyType)} key`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) return refuse(`This RSA key has ${bits} bits; SSH servers refuse keys below ${MIN_RSA_BITS}`);
  if (!works(key)) return refuse('This RSA key is inconsistent (corrupt)');
  return { ok: true, pem: String(key.export({ type: 'pkcs1', format: 'pem' })) };
}

/** The credential as it is sealed: a private key in guacd's form; a refusal names the `privateKey` field. */
export function guacdReadablePrivateKey(text: string): string {
  const checked = checkPrivateKey(text);
  if (!checked.ok) throw invalidFields([{ field: 'privateKey', code: checked.code, message: checked.message }]);
  return checked.pem;
}
