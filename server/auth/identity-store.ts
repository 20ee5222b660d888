// Each sign-in's identity record in Redis: the user as last validated with the IdP, when, the
// IdP session it came from and its sealed refresh token, plus the indexes that find a user's or
// an IdP session's sign-ins and the ones whose browser session has reached its end.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LuaScript, type RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { isAirlockUser, type AirlockUser } from '../user.ts';

const recordSchema = z.object({
  v: z.literal(1),
  browserSessionId: z.string().min(1),
  user: z.custom<AirlockUser>(isAirlockUser, 'not an Airlock user'),
  /** The provider id (identity config) the user signed in with. */
  provider: z.string().min(1),
  /** Epoch ms of the last validation with the IdP: the sign-in, then each accepted refresh. */
  validatedAt: z.number().int(),
  /** Epoch ms at which the IdP last authenticated the person (`auth_time`), when it said. */
  authTime: z.number().int().nullable(),
  /**
   * Epoch ms at which the person last authenticated with a second factor: the `auth_time` of a
   * sign-in whose ID token showed one (step-up checks its age); null when none was shown or the
   * IdP did not say when. Records written before it existed read as null.
   */
  mfaAt: z.number().int().nullable().default(null),
  /** The IdP's session id (`sid`), which back-channel logout tokens may name. */
  idpSid: z.string().nullable(),
  /** The refresh token, sealed (token-seal.ts); null when the IdP issued none. */
  refresh: z.string().nullable(),
  /** Epoch ms at which the browser session ends (its absolute lifetime). */
  expiresAt: z.number().int(),
});
export type IdentityRecord = z.infer<typeof recordSchema>;

/** IdP session ids are the IdP's strings of any length; keys hold a digest. */
const digest = (value: string): string => createHash('sha256').update(value).digest('hex').slice(0, 32);

/** The expiry index names a sign-in with its user, so the sweep can say whose sign-in ended. */
const expiryMember = (browserSessionId: string, userId: string): string => JSON.stringify([browserSessionId, userId]);

/** Most ended sign-ins one sweep claims; the next sweep takes the rest. */
const SWEEP_BATCH = 100;

/**
 * Claims sign-ins whose browser session has ended: removes them from the expiry index and
 * returns them, so that of several instances sweeping at once exactly one reports each.
 * KEYS[1] the index; ARGV: now (ms), batch size.
 */
const CLAIM_EXPIRED = new LuaScript(`
local ended = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(ended) do redis.call('ZREM', KEYS[1], member) end
return ended
`);

/** Releases a lock only if this holder still has it. KEYS[1] the lock; ARGV[1] the holder's token. */
const RELEASE_LOCK = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

export class IdentityStore {
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  private parse(json: string | null): IdentityRecord | undefined {
    if (json === null) return undefined;
    const parsed = recordSchema.safeParse(JSON.parse(json));
    // A record we cannot read stands for nobody: the sign-in is treated as ended (fail closed).
    return parsed.success ? parsed.data : undefined;
  }

  /** The sign-in of a browser session, while its browser session lasts. */
  async get(browserSessionId: string): Promise<IdentityRecord | undefined> {
    const record = this.parse(await this.#redis.get(keys.identity.record(browserSessionId)));
    return record !== undefined && record.expiresAt > Date.now() ? record : undefined;
  }

  /** Records a new sign-in and indexes it by user, IdP session and end time. */
  async create(record: IdentityRecord): Promise<void> {
    const { browserSessionId: id, user, expiresAt } = record;
    const multi = this.#redis
      .multi()
      .set(keys.identity.record(id), JSON.stringify(record), { expiration: { type: 'PXAT', value: expiresAt } })
      .zAdd(keys.identity.expiries, { score: expiresAt, value: expiryMember(id, user.id) });
    const indexes = [keys.identity.ofUser(user.id)];
    if (record.idpSid !== null) indexes.push(keys.identity.ofIdpSession(record.provider, digest(record.idpSid)));
    // An index lives as long as its longest-lived sign-in (NX: a new set; GT: a later end).
    for (const index of indexes) multi.sAdd(index, id).pExpireAt(index, expiresAt, 'NX').pExpireAt(index, expiresAt, 'GT');
    await multi.exec();
  }

  /**
   * Replaces a record that still exists (XX): a sign-in ended while it was being re-validated
   * stays ended. Returns false when it was gone.
   */
  async update(record: IdentityRecord): Promise<boolean> {
    const reply = await this.#redis.set(keys.identity.record(record.browserSessionId), JSON.stringify(record), { condition: 'XX', expiration: 'KEEPTTL' });
    return reply !== null;
  }

  /**
   * Ends a sign-in: removes its record, its index entries and its express session. Returns the
   * record when this call ended it (GETDEL: of concurrent callers, one gets it).
   */
  async remove(browserSessionId: string): Promise<IdentityRecord | undefined> {
    const record = this.parse(await this.#redis.getDel(keys.identity.record(browserSessionId)));
    const multi = this.#redis.multi().del([keys.sessionPrefix + browserSessionId, keys.identity.refreshLock(browserSessionId)]);
    if (record !== undefined) {
      multi.sRem(keys.identity.ofUser(record.user.id), browserSessionId).zRem(keys.identity.expiries, expiryMember(browserSessionId, record.user.id));
      if (record.idpSid !== null) multi.sRem(keys.identity.ofIdpSession(record.provider, digest(record.idpSid)), browserSessionId);
    }
    await multi.exec();
    return record;
  }

  /** The live sign-ins of a user (index entries whose sign-in has ended are dropped on the way). */
  async ofUser(userId: string): Promise<IdentityRecord[]> {
    return this.members(keys.identity.ofUser(userId));
  }

  /** The live sign-ins made through one IdP session. */
  async ofIdpSession(providerId: string, idpSid: string): Promise<IdentityRecord[]> {
    return this.members(keys.identity.ofIdpSession(providerId, digest(idpSid)));
  }

  private async members(index: string): Promise<IdentityRecord[]> {
    const ids = await this.#redis.sMembers(index);
    if (ids.length === 0) return [];
    const rows = await this.#redis.mGet(ids.map((id) => keys.identity.record(id)));
    const now = Date.now();
    const live: IdentityRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const record = this.parse(rows[i] ?? null);
      if (record !== undefined && record.expiresAt > now) live.push(record);
      else gone.push(id);
    });
    if (gone.length > 0) await this.#redis.sRem(index, gone);
    return live;
  }

  /** Sign-ins whose browser session ended by `now`, each claimed by exactly one caller. */
  async claimEnded(now: number): Promise<Array<{ browserSessionId: string; userId: string }>> {
    const members = (await CLAIM_EXPIRED.run(this.#redis, { keys: [keys.identity.expiries], arguments: [String(now), String(SWEEP_BATCH)] })) as string[];
    const ended: Array<{ browserSessionId: string; userId: string }> = [];
    for (const member of members) {
      const parsed = z.tuple([z.string(), z.string()]).safeParse(JSON.parse(member));
      if (!parsed.success) continue;
      const [browserSessionId, userId] = parsed.data;
      ended.push({ browserSessionId, userId });
      // The record and the session have expired by themselves (same end time); the index entry has not.
      await this.#redis.multi().sRem(keys.identity.ofUser(userId), browserSessionId).del([keys.identity.record(browserSessionId), keys.sessionPrefix + browserSessionId]).exec();
    }
    return ended;
  }

  /** Takes the re-validation lock of a sign-in; false when another caller holds it. */
  async lock(browserSessionId: string, holder: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(keys.identity.refreshLock(browserSessionId), holder, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } })) !== null;
  }

  async unlock(browserSessionId: string, holder: string): Promise<void> {
    await RELEASE_LOCK.run(this.#redis, { keys: [keys.identity.refreshLock(browserSessionId)], arguments: [holder] });
  }

  /** True the first time a logout token's jti is seen from this provider (kept `ttlMs`). */
  async firstUseOfLogoutToken(providerId: string, jti: string, ttlMs: number): Promise<boolean> {
    return (await this.#redis.set(keys.identity.logoutJti(providerId, digest(jti)), '1', { condition: 'NX', expiration: { type: 'PX', value: ttlMs } })) !== null;
  }
}
