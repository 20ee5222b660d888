// Chat state in Redis: links between chat users and Airlock accounts, the profile snapshots
// chat decisions act on, one-time link codes, posted copies, button nonces, replay and
// event-claim markers. Keys come from keys.ts.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { z } from 'zod';
import { LuaScript, type RedisClient } from '../redis.ts';
import { keys } from '../keys.ts';
import { isAirlockUser, type AirlockUser } from '../user.ts';
import { PLATFORMS, type ChatIdentity, type CopyRef } from './model.ts';

/** Crockford's base32 without I, L, O, U: codes are typed by hand and read aloud. */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** 10 characters = 50 bits: out of reach of guessing within a code's lifetime and the write rate limit. */
const CODE_LENGTH = 10;
/** Long enough to outlive any platform's retries of one callback (Slack retries within minutes). */
const SEEN_CALLBACK_TTL_SECONDS = 600;
/** An event is fanned out once; the claim only has to outlive the bus's delivery to every instance. */
const EVENT_CLAIM_TTL_SECONDS = 3600;

/**
 * Binds an Entra object id to a user unless another user holds it (an object id is one person
 * for ever; two Airlock accounts claiming one means an identity provider to distrust, so the
 * first binding stands until it lapses). KEYS[1] the binding; ARGV: user id, TTL in ms.
 */
const BIND_ENTRA_ID = new LuaScript(`
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`);

/**
 * Deletes the profile and the bindings that still name its user (another user may hold the email
 * binding by now). KEYS[1] the profile, KEYS[2..] its email and Entra bindings; ARGV[1] the user id.
 */
const FORGET_PROFILE = new LuaScript(`
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then redis.call('DEL', KEYS[i]) end
end
return 1
`);

/** What chat knows of a user: as the IdP said at `validatedAt` (sign-in or re-validation). */
export interface ChatProfile {
  readonly user: AirlockUser;
  /** When the IdP last vouched for this user (epoch ms); 0 for profiles saved before it was kept. */
  readonly validatedAt: number;
}

const storedProfileSchema = z.object({ user: z.custom<AirlockUser>(isAirlockUser), validatedAt: z.number().int() });

const identitySchema = z.object({
  platform: z.enum(PLATFORMS),
  workspace: z.string(),
  userId: z.string(),
  displayName: z.string().optional(),
  address: z.record(z.string(), z.string()).optional(),
});

const linkSchema = z.object({
  id: z.string(),
  identity: identitySchema,
  userId: z.string(),
  linkedAt: z.string(),
  method: z.enum(['code', 'email', 'entra']),
});
export type ChatLink = z.infer<typeof linkSchema>;

const copySchema = z.object({
  platform: z.enum(PLATFORMS),
  id: z.string(),
  where: z.record(z.string(), z.string()),
  updatable: z.boolean(),
});

export const linkIdOf = (who: Pick<ChatIdentity, 'platform' | 'workspace' | 'userId'>): string =>
  createHash('sha256').update(`${who.platform}\0${who.workspace}\0${who.userId}`).digest('hex').slice(0, 32);

/** A code as the user may type it: case and separators do not matter. */
export const normaliseCode = (typed: string): string => typed.toUpperCase().replace(/[^0-9A-Z]/g, '');

export function newLinkCode(): string {
  let code = '';
  for (let i = 0; i < CODE_LENGTH; i++) code += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return code;
}

export const formatCode = (code: string): string => `${code.slice(0, 5)}-${code.slice(5)}`;

export class ChatStore {
  readonly #redis: RedisClient;

  constructor(redis: RedisClient) {
    this.#redis = redis;
  }

  /**
   * Records what Airlock knows of a signed-in user as the IdP said it at `validatedAt`; it lapses
   * after `maxAgeMs` (decisions need a much younger one: ApprovalCore). Returns entraConflict when
   * the user's Entra object id is already bound to another user (that binding is kept).
   */
  async saveProfile(user: AirlockUser, maxAgeMs: number, validatedAt: Date): Promise<{ entraConflict: boolean }> {
    const stored = JSON.stringify({ user, validatedAt: validatedAt.getTime() });
    const multi = this.#redis.multi().set(keys.chat.profile(user.id), stored, { expiration: { type: 'PX', value: maxAgeMs } });
    if (user.email !== undefined) multi.set(keys.chat.profileByEmail(user.email.toLowerCase()), user.id, { expiration: { type: 'PX', value: maxAgeMs } });
    await multi.exec();
    if (user.entraObjectId === undefined) return { entraConflict: false };
    const bound = await BIND_ENTRA_ID.run(this.#redis, { keys: [keys.chat.profileByEntraId(user.entraObjectId)], arguments: [user.id, String(maxAgeMs)] });
    return { entraConflict: bound !== 1 };
  }

  /** The Airlock user whose recent sign-in carried this Entra object id. */
  async userIdByEntraObjectId(objectId: string): Promise<string | undefined> {
    return (await this.#redis.get(keys.chat.profileByEntraId(objectId))) ?? undefined;
  }

  async profile(userId: string): Promise<ChatProfile | undefined> {
    const json = await this.#redis.get(keys.chat.profile(userId));
    if (json === null) return undefined;
    const parsed: unknown = JSON.parse(json);
    const stored = storedProfileSchema.safeParse(parsed);
    if (stored.success) return stored.data;
    // Saved before validation times were kept: usable for routing and names, never fresh.
    return isAirlockUser(parsed) ? { user: parsed, validatedAt: 0 } : undefined;
  }

  /** Forgets a user who signed out: chat acts for them again only after the IdP vouches anew. */
  async forgetProfile(userId: string): Promise<void> {
    const profile = await this.profile(userId);
    const bindings: string[] = [];
    if (profile?.user.email !== undefined) bindings.push(keys.chat.profileByEmail(profile.user.email.toLowerCase()));
    if (profile?.user.entraObjectId !== undefined) bindings.push(keys.chat.profileByEntraId(profile.user.entraObjectId));
    await FORGET_PROFILE.run(this.#redis, { keys: [keys.chat.profile(userId), ...bindings], arguments: [userId] });
  }

  async userIdByEmail(email: string): Promise<string | undefined> {
    return (await this.#redis.get(keys.chat.profileByEmail(email.toLowerCase()))) ?? undefined;
  }

  async issueCode(identity: ChatIdentity, ttlSeconds: number): Promise<string> {
    for (;;) {
      const code = newLinkCode();
      if ((await this.#redis.set(keys.chat.linkCode(code), JSON.stringify(identity), { condition: 'NX', expiration: { type: 'EX', value: ttlSeconds } })) !== null) return code;
    }
  }

  /** Single use: the code is gone after this call whatever happens next. */
  async redeemCode(typed: string): Promise<ChatIdentity | undefined> {
    const code = normaliseCode(typed);
    if (code.length !== CODE_LENGTH) return undefined;
    const json = await this.#redis.getDel(keys.chat.linkCode(code));
    if (json === null) return undefined;
    return identitySchema.parse(JSON.parse(json));
  }

  /** Links the chat identity to the user, replacing any earlier link of that identity. */
  async link(identity: ChatIdentity, userId: string, method: ChatLink['method'], now = new Date()): Promise<ChatLink> {
    const link: ChatLink = { id: linkIdOf(identity), identity, userId, linkedAt: now.toISOString(), method };
    const previous = await this.linkById(link.id);
    const multi = this.#redis.multi();
    if (previous !== undefined && previous.userId !== userId) multi.sRem(keys.chat.linksOfUser(previous.userId), link.id);
    multi.hSet(keys.chat.links, link.id, JSON.stringify(link)).sAdd(keys.chat.linksOfUser(userId), link.id);
    await multi.exec();
    return link;
  }

  async linkOf(identity: ChatIdentity): Promise<ChatLink | undefined> {
    return this.linkById(linkIdOf(identity));
  }

  private async linkById(id: string): Promise<ChatLink | undefined> {
    const json = await this.#redis.hGet(keys.chat.links, id);
    return json === null ? undefined : linkSchema.parse(JSON.parse(json));
  }

  async linksOf(userId: string): Promise<ChatLink[]> {
    const ids = await this.#redis.sMembers(keys.chat.linksOfUser(userId));
    if (ids.length === 0) return [];
    const rows = await this.#redis.hmGet(keys.chat.links, ids);
    return rows.flatMap((json) => (json === null ? [] : [linkSchema.parse(JSON.parse(json))])).filter((l) => l.userId === userId);
  }

  /** Every link: the direct-message routing reads them (one per approver per platform, a small set). */
  async allLinks(): Promise<ChatLink[]> {
    return Object.values(await this.#redis.hGetAll(keys.chat.links)).map((json) => linkSchema.parse(JSON.parse(json)));
  }

  async unlink(userId: string, linkId: string): Promise<ChatLink | undefined> {
    const link = await this.linkById(linkId);
    if (link === undefined || link.userId !== userId) return undefined;
    await this.#redis.multi().hDel(keys.chat.links, linkId).sRem(keys.chat.linksOfUser(userId), linkId).exec();
    return link;
  }

  async addCopy(subject: string, copy: CopyRef, keepUntil: Date): Promise<void> {
    const key = keys.chat.copies(subject);
    await this.#redis.multi().hSet(key, `${copy.platform}:${copy.id}`, JSON.stringify(copy)).pExpireAt(key, keepUntil.getTime()).exec();
  }

  async copies(subject: string): Promise<CopyRef[]> {
    return Object.values(await this.#redis.hGetAll(keys.chat.copies(subject))).map((json) => copySchema.parse(JSON.parse(json)));
  }

  /** The scope's current nonce, creating one if there is none. */
  async nonce(scope: string, keepUntil: Date): Promise<string> {
    const fresh = randomBytes(16).toString('base64url');
    const expiration = { type: 'PXAT', value: Math.max(keepUntil.getTime(), Date.now() + 1000) } as const;
    const existing = await this.#redis.set(keys.chat.nonce(scope), fresh, { condition: 'NX', GET: true, expiration });
    return typeof existing === 'string' ? existing : fresh;
  }

  async currentNonce(scope: string): Promise<string | undefined> {
    return (await this.#redis.get(keys.chat.nonce(scope))) ?? undefined;
  }

  /** Retires the scope's buttons: any click still carrying the old nonce is stale. */
  async dropNonce(scope: string): Promise<void> {
    await this.#redis.del(keys.chat.nonce(scope));
  }

  /** True the first time this callback is seen; false for a replay. */
  async firstSighting(platform: string, digest: string): Promise<boolean> {
    return (await this.#redis.set(keys.chat.seenCallback(platform, digest), '1', { condition: 'NX', expiration: { type: 'EX', value: SEEN_CALLBACK_TTL_SECONDS } })) !== null;
  }

  async claimEvent(digest: string): Promise<boolean> {
    return (await this.#redis.set(keys.chat.eventClaim(digest), '1', { condition: 'NX', expiration: { type: 'EX', value: EVENT_CLAIM_TTL_SECONDS } })) !== null;
  }
}
