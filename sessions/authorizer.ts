// The second look, at the moment of the WebSocket upgrade: everything the ticket stood for must
// still hold (the machine, the grant or the watched session, the spool). Throws an AppError whose
// status the guard answers with; nothing has reached guacd yet.
import { AppError, forbidden, unavailable } from '../server/errors.ts';
import { mayOverseeSession } from '../server/policies.ts';
import type { AirlockUser } from '../server/user.ts';
import type { InventoryStore } from '../server/inventory/store.ts';
import type { Machine, Policy } from '../server/inventory/schema.ts';
import type { RequestService } from '../server/requests/service.ts';
import { SPOOL_MESSAGES, spoolProblem } from '../recordings/spool.ts';
import type { TicketBinding } from './tickets.ts';
import type { LiveSessionRecord, SessionRegistry } from './registry.ts';

/** What the guard learned, passed on to the broker's `open`. */
export interface AuthorizedUpgrade {
  binding: TicketBinding;
  user: AirlockUser;
  machine: Machine;
  /** kind session: the grant's policy and end; kind watch: the watched session's. */
  policy: Policy;
  endsAt: Date;
  watched: LiveSessionRecord | undefined;
}

export class UpgradeAuthorizer {
  private readonly deps: {
    inventory: InventoryStore;
    requests: RequestService;
    registry: SessionRegistry;
    recording: { spool: string; minFreeBytes: number };
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
      return { binding, user, machine, policy: watched.policy, endsAt: new Date(watched.endsAt), watched };
    }
    const grant = await this.deps.requests.grantFor(user.id, machine.id);
    if (grant === undefined || grant.requestId !== binding.requestId) {
      throw new AppError(409, 'grant_invalid', 'The grant is not valid now (expired, revoked or not yet started).');
    }
    const problem = await spoolProblem(this.deps.recording.spool, this.deps.recording.minFreeBytes);
    if (problem !== undefined) throw unavailable('recording_unavailable', SPOOL_MESSAGES[problem]);
    return { binding, user, machine, policy: grant.policy, endsAt: grant.end, watched: undefined };
  }
}
