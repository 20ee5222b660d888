// The second look, at the moment of the WebSocket upgrade: everything the ticket stood for must
// still hold (the machine, the grant or the watched session, the spool). Throws an AppError whose
// status the guard answers with; nothing has reached guacd yet.
import { AppError, forbidden, unavailable } from '../server/errors.ts';
import { mayOverseeSession } from '../server/policies.ts';
import type { AirlockUser } from '../server/user.ts';
import type { InventoryStore } from '../server/inventory/store.ts';
import type { Machine, Policy } from '../server/inventory/schema.ts';
import type { RequestService } from '../server/requests/service.ts';
import type { Mode } from '../server/config.ts';
import { hostKeyRefusal } from '../server/inventory/host-keys.ts';
import { SPOOL_MESSAGES, spoolProblem } from '../recordings/spool.ts';
import type { TicketBinding } from './tickets.ts';
import type { LiveSessionRecord, SessionRegistry } from './registry.ts';
import type { LocalSessions } from './local.ts';

/** What the guard learned, passed on to the broker's `open`. */
export interface AuthorizedUpgrade {
  binding: TicketBinding;
  user: AirlockUser;
  machine: Machine;
  /** kind session: the grant's policy and end; kind watch: the watched session's. */
  policy: Policy;
  endsAt: Date;
  watched: LiveSessionRecord | undefined;
  /** Older sessions of the same grant that this one replaces (the per-grant cap). */
  takeOver: string[];
}

export interface SessionCaps {
  perGrant: number;
  perUser: number;
  perGuacd: number;
  perInstance: number;
}

/** What counts against the caps: live sessions everywhere (registry) and those still setting up here. */
interface Counted {
  id: string;
  requestId: string;
  userId: string;
  guacd: string;
  startedAt: string;
}

export class UpgradeAuthorizer {
  private readonly deps: {
    inventory: InventoryStore;
    requests: RequestService;
    registry: SessionRegistry;
    local: LocalSessions;
    caps: SessionCaps;
    recording: { spool: string; minFreeBytes: number };
    mode: Mode;
  };

  constructor(deps: UpgradeAuthorizer['deps']) {
    this.deps = deps;
  }

  async authorize(binding: TicketBinding, user: AirlockUser): Promise<AuthorizedUpgrade> {
    const machine = await this.deps.inventory.machine(binding.machineId);
    if (machine === undefined) throw new AppError(409, 'grant_invalid', 'The machine is no longer in the inventory.');
    if (binding.kind === 'watch') {
      const watched = await this.deps.registry.get(binding.sessionId);
      if (watched === undefined) throw new AppError(409, 'session_gone', 'The session has ended.');
      if (!mayOverseeSession(user, watched)) throw forbidden('forbidden', 'You may not watch this session.');
      return { binding, user, machine, policy: watched.policy, endsAt: new Date(watched.endsAt), watched, takeOver: [] };
    }
    const grant = await this.deps.requests.grantOf(binding.requestId, user.id, machine.id);
    if (grant === undefined) {
      throw new AppError(409, 'grant_invalid', 'The grant is not valid now (expired, revoked or not yet started).');
    }
    // Again at the upgrade: the pin may have been removed since the ticket was issued.
    const untrusted = hostKeyRefusal(machine, this.deps.mode);
    if (untrusted !== undefined) throw untrusted;
    const problem = await spoolProblem(this.deps.recording.spool, this.deps.recording.minFreeBytes);
    if (problem !== undefined) throw unavailable('recording_unavailable', SPOOL_MESSAGES[problem]);
    const takeOver = await this.checkCaps(binding, machine.guacd);
    return { binding, user, machine, policy: grant.policy, endsAt: grant.end, watched: undefined, takeOver };
  }

  /**
   * One vendor or one guacd must not take the portal's capacity. A second open of the same
   * grant takes over the older session rather than being refused: the likeliest cause is the
   * vendor reconnecting (laptop lid, network drop) while the old tunnel is still half-open, and
   * both belong to the same signed-in user. The other caps refuse, each with its own code.
   */
  private async checkCaps(binding: TicketBinding, guacd: string): Promise<string[]> {
    const { caps, local, registry } = this.deps;
    if (local.sessionCount() >= caps.perInstance) {
      throw new AppError(503, 'instance_busy', 'This Airlock portal is at its session limit; try again in a few minutes.');
    }
    const counted: Counted[] = [
      ...(await registry.all()).map((r) => ({ id: r.id, requestId: r.requestId, userId: r.user.id, guacd: r.guacd, startedAt: r.startedAt })),
      ...local.settingUp().map((c) => ({ id: c.id, requestId: c.requestId, userId: c.userId, guacd: c.guacd, startedAt: '9999' })),
    ];
    if (counted.filter((c) => c.guacd === guacd).length >= caps.perGuacd) {
      throw new AppError(503, 'guacd_busy', "The plant's gateway is at its session limit; try again in a few minutes.");
    }
    const sameGrant = counted.filter((c) => c.requestId === binding.requestId).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    const takeOver = sameGrant.slice(0, Math.max(0, sameGrant.length - caps.perGrant + 1)).map((c) => c.id);
    const mine = counted.filter((c) => c.userId === binding.userId && !takeOver.includes(c.id));
    if (mine.length >= caps.perUser) {
      throw new AppError(429, 'too_many_sessions', `You already have ${mine.length} sessions open (the most at once is ${caps.perUser}); close one first.`);
    }
    // In the same turn as the counting above (no await since): the next check counts this one.
    local.reserve({ id: binding.sessionId, requestId: binding.requestId, userId: binding.userId, guacd });
    return takeOver;
  }
}
