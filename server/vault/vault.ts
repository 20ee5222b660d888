// The credential vault: machine credentials encrypted at rest with AES-256-GCM, bound to their
// machine id (additional authenticated data), under a keyring that supports rotation. Nothing
// here ever returns a credential to an API; only the broker calls `reveal`.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { LuaScript, type RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { VaultError, type VaultKey } from '../keyring.ts';
import { credentialSchema, type Credential } from '../inventory/schema.ts';

/** GCM's recommended nonce size. */
const IV_BYTES = 12;
/** Format marker, so a future scheme can be told apart. */
const FORMAT = 'v1';

/**
 * KEYS[1] = the vault hash, ARGV = machine id, the sealed value rotation read, its replacement.
 * Replaces only what was read, so a concurrent admin update wins over the rotation; -1 if not.
 */
const RESEAL = new LuaScript("if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end return -1");

export class Vault {
  private readonly redis: RedisClient;
  private readonly keyring: readonly VaultKey[];

  constructor(redis: RedisClient, keyring: readonly VaultKey[]) {
    if (keyring.length === 0) throw new VaultError('vault_bad_keyring', 'the keyring is empty');
    this.redis = redis;
    this.keyring = keyring;
  }

  private get current(): VaultKey {
    const k = this.keyring[0];
    if (k === undefined) throw new VaultError('vault_bad_keyring', 'the keyring is empty');
    return k;
  }

  seal(machineId: string, credential: Credential): string {
    const { id, key } = this.current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(`airlock-credential:${machineId}`));
    const ciphertext = Buffer.concat([cipher.update(JSON.stringify(credential), 'utf8'), cipher.final()]);
    return [FORMAT, id, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(':');
  }

  open(machineId: string, sealed: string): Credential {
    const [format, keyId, iv, tag, ciphertext] = sealed.split(':');
    if (format !== FORMAT || keyId === undefined || iv === undefined || tag === undefined || ciphertext === undefined) {
      throw new VaultError('vault_corrupt', `the stored credential of ${machineId} is malformed`);
    }
    const vaultKey = this.keyring.find((k) => k.id === keyId);
    if (vaultKey === undefined) throw new VaultError('vault_key_unknown', `the credential of ${machineId} uses key "${keyId}", which is not in the keyring`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', vaultKey.key, Buffer.from(iv, 'base64'));
      decipher.setAAD(Buffer.from(`airlock-credential:${machineId}`));
      decipher.setAuthTag(Buffer.from(tag, 'base64'));
      const plain = Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64')), decipher.final()]).toString('utf8');
      return credentialSchema.parse(JSON.parse(plain));
    } catch {
      throw new VaultError('vault_corrupt', `the stored credential of ${machineId} does not decrypt (tampered, or moved from another machine)`);
    }
  }

  async store(machineId: string, credential: Credential): Promise<void> {
    await this.redis.hSet(keys.vault, machineId, this.seal(machineId, credential));
  }

  async has(machineId: string): Promise<boolean> {
    return (await this.redis.hExists(keys.vault, machineId)) === 1;
  }

  async remove(machineId: string): Promise<void> {
    await this.redis.hDel(keys.vault, machineId);
  }

  /** For the broker only: the decrypted credential, or undefined when none is set. */
  async reveal(machineId: string): Promise<Credential | undefined> {
    const sealed = await this.redis.hGet(keys.vault, machineId);
    return sealed === null || sealed === undefined ? undefined : this.open(machineId, sealed);
  }

  /** Re-encrypts every credential under the current key; returns how many changed. */
  async rotate(): Promise<number> {
    const all = await this.redis.hGetAll(keys.vault);
    let changed = 0;
    for (const [machineId, sealed] of Object.entries(all)) {
      if (sealed.split(':')[1] === this.current.id) continue;
      const resealed = this.seal(machineId, this.open(machineId, sealed));
      if ((await RESEAL.run(this.redis, { keys: [keys.vault], arguments: [machineId, sealed, resealed] })) !== -1) changed++;
    }
    return changed;
  }
}
