// The credential vault on a real Redis: sealed at rest, bound to its machine, rotatable.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { Vault } from './vault.ts';
import { generateKeyringEntry, parseKeyring, VaultError } from '../keyring.ts';
import { keys } from '../keys.ts';
import { sharedRedisUrl } from '../../test/support/services.ts';
import type { RedisClient } from '../redis.ts';

let redis: RedisClient;

beforeAll(async () => {
  const url = new URL(sharedRedisUrl());
  url.pathname = '/6'; // a database of its own
  redis = createClient({ url: url.toString() });
  await redis.connect();
});
beforeEach(async () => {
  await redis.flushDb();
});
afterAll(() => redis.destroy());

const secret = { username: 'operator', password: 'Sécret-Pässword-42' };

describe('Vault', () => {
  test('stores only ciphertext and reveals the credential to the broker', async () => {
    const vault = new Vault(redis, parseKeyring(generateKeyringEntry('k1')));
    await vault.store('press-hmi', secret);
    const raw = (await redis.hGet(keys.vault, 'press-hmi')) ?? '';
    expect(raw).toMatch(/^v1:k1:/);
    expect(raw).not.toContain('operator');
    expect(raw).not.toContain('Pässword');
    expect(await vault.reveal('press-hmi')).toEqual(secret);
    expect(await vault.has('press-hmi')).toBe(true);
    expect(await vault.reveal('cnc-07')).toBeUndefined();
  });

  test('a credential moved to another machine, or tampered with, does not decrypt', async () => {
    const vault = new Vault(redis, parseKeyring(generateKeyringEntry('k1')));
    await vault.store('press-hmi', secret);
    const sealed = (await redis.hGet(keys.vault, 'press-hmi')) ?? '';
    await redis.hSet(keys.vault, 'cnc-07', sealed);
    await expect(vault.reveal('cnc-07')).rejects.toMatchObject({ code: 'vault_corrupt' });
    const parts = sealed.split(':');
    const ct = Buffer.from(parts[4] ?? '', 'base64');
    ct[0] = (ct[0] ?? 0) ^ 1;
    parts[4] = ct.toString('base64');
    await redis.hSet(keys.vault, 'press-hmi', parts.join(':'));
    await expect(vault.reveal('press-hmi')).rejects.toBeInstanceOf(VaultError);
  });

  test('rotation re-encrypts under the new key; the old key can then be dropped', async () => {
    const oldKey = generateKeyringEntry('old');
    const newKey = generateKeyringEntry('new');
    await new Vault(redis, parseKeyring(oldKey)).store('a', secret);
    await new Vault(redis, parseKeyring(oldKey)).store('b', { username: 'x', privateKey: '-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----' });
    const both = new Vault(redis, parseKeyring(`${newKey}\n${oldKey}`));
    expect(await both.rotate()).toBe(2);
    expect(await both.rotate()).toBe(0);
    const onlyNew = new Vault(redis, parseKeyring(newKey));
    expect(await onlyNew.reveal('a')).toEqual(secret);
    await expect(new Vault(redis, parseKeyring(oldKey)).reveal('a')).rejects.toMatchObject({ code: 'vault_key_unknown' });
  });

  test('a malformed keyring is refused', () => {
    expect(() => parseKeyring('')).toThrow(VaultError);
    expect(() => parseKeyring('k1:c2hvcnQ=')).toThrow(/not 32 bytes/);
    const k = generateKeyringEntry('same');
    expect(() => parseKeyring(`${k}\n${k}`)).toThrow(/twice/);
  });
});
