// Refused attempts (a ticket without a grant, a forged upgrade, …) as audit events: who, what, why.
import type { AuditLog } from '../server/audit/store.ts';
import type { AirlockUser } from '../server/user.ts';

export class Refusals {
  private readonly audit: AuditLog;

  constructor(audit: AuditLog) {
    this.audit = audit;
  }

  async record(user: AirlockUser | undefined, action: string, requestId: string | null, reason: string, details: Record<string, unknown> = {}): Promise<void> {
    await this.audit.append({
      actor: user === undefined ? null : { id: user.id, name: user.name },
      action,
      target: requestId === null ? null : { type: 'request', id: requestId },
      outcome: 'refused',
      reason,
      details,
      site: null,
    });
  }
}
