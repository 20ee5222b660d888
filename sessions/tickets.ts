// One-time tickets: what the browser holds instead of a guacamole-lite token, an address or a
// credential. 256 random bits, stored (by hash) for ~30 s, bound to the user, the browser
// session, the grant and the machine, consumed atomically (GETDEL) by the upgrade guard.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { RedisClient } from '../server/redis.ts';
import { keys } from '../server/keys.ts';

/** Long enough for a browser to open the WebSocket, short enough that a leaked ticket is stale. */
export const TICKET_TTL_SECONDS = 30;
const TICKET_BYTES = 32;

const bindingSchema = z.strictObject({
  kind: z.enum(['session', 'watch']),
  userId: z.string(),
  /** The express-session id of the browser that asked. */
  browserSessionId: z.string(),
  machineId: z.string(),
  /** kind session: the grant (request id); kind watch: the request of the watched session. */
  requestId: z.string(),
  /** kind session: the session id to create; kind watch: the live session to join. */
  sessionId: z.string(),
});
export type TicketBinding = z.infer<typeof bindingSchema>;

const hashTicket = (ticket: string): string => createHash('sha256').update(ticket).digest('hex');

export class TicketStore {
  private readonly redis: RedisClient;

  constructor(redis: RedisClient) {
    this.redis = redis;
  }

  async issue(binding: TicketBinding): Promise<string> {
    const ticket = randomBytes(TICKET_BYTES).toString('base64url');
    await this.redis.set(keys.sessions.ticket(hashTicket(ticket)), JSON.stringify(binding), { EX: TICKET_TTL_SECONDS });
    return ticket;
  }

  /** Consumes a ticket: the first caller gets its binding, every later one undefined. */
  async consume(ticket: string): Promise<TicketBinding | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(ticket)) return undefined;
    const json = await this.redis.getDel(keys.sessions.ticket(hashTicket(ticket)));
    if (json === null) return undefined;
    const parsed = bindingSchema.safeParse(JSON.parse(json));
    return parsed.success ? parsed.data : undefined;
  }
}
