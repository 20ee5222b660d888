// Sealing of refresh tokens (pure logic): round trip, binding to the sign-in, tampering, key
// rotation through the vault keyring, and separation from the vault's own use of the keys.
import { describe, expect, test } from '@jest/globals';
import { generateKeyringEntry, parseKeyring } from '../keyring.ts';
import { TokenSeal } from './token-seal.ts';
import { Vault } from '../vault/vault.ts';
import type { RedisClient } from '../redis.ts';

const k1 = generateKeyringEntry('k1');
const k2 = generateKeyringEntry('k2');

describe('TokenSeal', () => {
  test('opens what it sealed, for the same sign-in only; the blob names its key and hides the token', () => {
    const seal = new TokenSeal(parseKeyring(k1));
    const sealed = seal.seal('refresh-token-value', 'session-a');
    expect(sealed).toMatch(/^t1\.k1\./);
    expect(sealed).not.toContain('refresh-token-value');
    expect(seal.open(sealed, 'session-a')).toBe('refresh-token-value');
    expect(() => seal.open(sealed, 'session-b')).toThrow(/does not open/);
    expect(seal.seal('refresh-token-value', 'session-a')).not.toBe(sealed); // a fresh IV each time
  });

  test('a flipped byte, a truncated tag or a malformed blob does not open', () => {
    const seal = new TokenSeal(parseKeyring(k1));
    const [format, id, iv, tag, ciphertext] = seal.seal('refresh-token-value', 's').split('.');
    const flipped = Buffer.from(ciphertext ?? '', 'base64url');
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    expect(() => seal.open([format, id, iv, tag, flipped.toString('base64url')].join('.'), 's')).toThrow(/does not open/);
    const shortTag = Buffer.from(tag ?? '', 'base64url').subarray(0, 4).toString('base64url');
    expect(() => seal.open([format, id, iv, shortTag, ciphertext].join('.'), 's')).toThrow(/does not open/);
    expect(() => seal.open('garbage', 's')).toThrow(/malformed/);
  });

  test('after rotation old blobs still open; a key removed from the keyring no longer does', () => {
    const sealedUnderK1 = new TokenSeal(parseKeyring(k1)).seal('t', 's');
    const rotated = new TokenSeal(parseKeyring(`${k2}\n${k1}`));
    expect(rotated.open(sealedUnderK1, 's')).toBe('t');
    expect(rotated.seal('t', 's')).toMatch(/^t1\.k2\./);
    expect(() => new TokenSeal(parseKeyring(k2)).open(sealedUnderK1, 's')).toThrow(/not in the keyring/);
  });

  test('the vault key itself does not open a sealed token (a derived key of its own)', () => {
    const keyring = parseKeyring(k1);
    const sealed = new TokenSeal(keyring).seal('{"username":"u","password":"p"}', 'm1');
    const [, , iv, tag, ciphertext] = sealed.split('.');
    const asVaultBlob = ['v1', 'k1', Buffer.from(iv ?? '', 'base64url').toString('base64'), Buffer.from(tag ?? '', 'base64url').toString('base64'), Buffer.from(ciphertext ?? '', 'base64url').toString('base64')].join(':');
    const vault = new Vault({} as RedisClient, keyring); // open() touches no Redis
    expect(() => vault.open('m1', asVaultBlob)).toThrow(/does not decrypt/);
  });
});
