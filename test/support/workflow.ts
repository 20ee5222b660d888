// Helpers for the access-workflow suites: the demo inventory on a portal, request bodies.
import { demoCredentials, demoInventory } from '../../dev/demo-inventory.ts';
import type { Portal } from '../../server/app/portal.ts';
import type { Browserless } from './http.ts';
import type { AccessRequest } from '../../server/requests/schema.ts';
import type { AuditEvent } from '../../server/audit/schema.ts';
import { testServices } from './services.ts';
import { waitFor } from './wait.ts';

/**
 * Seeds the demo plant. Without `targets` the machines point nowhere (workflow suites); with
 * it they are the real sshd, VNC, RDP and telnet targets of the global setup, credentials sealed.
 */
export async function seedDemoPlant(portal: Portal, opts: { targets?: boolean } = {}): Promise<void> {
  const services = opts.targets === true ? testServices() : {};
  await portal.services.inventory.seed(demoInventory(services), true);
  for (const [machineId, credential] of Object.entries(demoCredentials(services))) await portal.services.vault.store(machineId, credential);
}

/** How far ahead a test grant starts: the API refuses windows starting in the past. */
const GRANT_LEAD_MS = 1_200;

/** Files a request that starts in a moment, has it approved, and waits until it is valid. */
export async function grantNow(portal: Portal, vendor: Browserless, approver: Browserless, machineId: string, lengthMs = 10 * 60_000): Promise<string> {
  const id = await createRequest(vendor, { machineId, ...windowFromNow(GRANT_LEAD_MS, lengthMs) });
  const approved = await approver.post(`/api/requests/${id}/approve`, {});
  if (approved.status !== 200) throw new Error(`approve failed (${approved.status}): ${approved.text}`);
  const vendorId = (await vendor.get('/api/me')).json<{ user: { id: string } }>().user.id;
  await waitFor(async () => (await portal.services.requests.grantFor(vendorId, machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant to start' });
  return id;
}

/** One demo machine of each protocol, for suites that run every protocol through the portal. */
export const ONE_MACHINE_PER_PROTOCOL = [
  ['SSH', 'cnc-07'],
  ['Telnet', 'plc-gateway'],
  ['VNC', 'press-hmi'],
  ['RDP', 'scada-historian'],
] as const;

/** The demo plant's vendors and approvers, signed in. */
export type PlantCrew = Record<'vera' | 'victor' | 'mona' | 'bruno' | 'olga', Browserless>;

/**
 * A grant valid now on a demo machine, through the approvals the plant asks for it: the PLC
 * gateway is Victor's (approved by Bruno), the SCADA historian needs two approvals (Mona's and
 * Olga's) on Vera's request, any other machine is Vera's, approved by Mona.
 */
export async function grantOnPlant(portal: Portal, crew: PlantCrew, machineId: string): Promise<{ vendor: Browserless; grant: string }> {
  const { vera, victor, mona, bruno, olga } = crew;
  if (machineId === 'plc-gateway') return { vendor: victor, grant: await grantNow(portal, victor, bruno, machineId) };
  if (machineId !== 'scada-historian') return { vendor: vera, grant: await grantNow(portal, vera, mona, machineId) };
  const id = await createRequest(vera, { machineId, ...windowFromNow(GRANT_LEAD_MS, 600_000) });
  await mona.post(`/api/requests/${id}/approve`, {});
  await olga.post(`/api/requests/${id}/approve`, {});
  await waitFor(async () => (await portal.services.requests.grantFor('dev:vera', machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
  return { vendor: vera, grant: id };
}

/** POST /api/sessions for a grant; returns the ticket and the session id. */
export async function sessionTicket(vendor: Browserless, requestId: string): Promise<{ ticket: string; id: string; endsAt: string }> {
  const res = await vendor.post('/api/sessions', { requestId });
  if (res.status !== 201) throw new Error(`session ticket refused (${res.status}): ${res.text}`);
  return res.json<{ session: { ticket: string; id: string; endsAt: string } }>().session;
}

export function windowFromNow(startInMs: number, lengthMs: number): { windowStart: string; windowEnd: string } {
  const start = Date.now() + startInMs;
  return { windowStart: new Date(start).toISOString(), windowEnd: new Date(start + lengthMs).toISOString() };
}

export interface RequestBody {
  machineId: string;
  windowStart: string;
  windowEnd: string;
  reason: string;
  [extra: string]: unknown;
}

export async function createRequest(agent: Browserless, body: Partial<RequestBody> & { machineId: string }): Promise<string> {
  const res = await agent.post('/api/requests', { ...windowFromNow(60_000, 3_600_000), reason: 'replace a worn spindle encoder', ...body });
  if (res.status !== 201) throw new Error(`create failed (${res.status}): ${res.text}`);
  return res.json<{ request: { id: string } }>().request.id;
}

/** A request as `reader` sees it (GET /api/requests/:id). */
export async function readRequest(reader: Browserless, id: string): Promise<AccessRequest> {
  return (await reader.get(`/api/requests/${id}`)).json<{ request: AccessRequest }>().request;
}

/** The audit events about `target` ("request:<id>", "session:<id>"), newest first, as an auditor reads them. */
export async function auditEvents(reader: Browserless, target: string): Promise<AuditEvent[]> {
  return (await reader.get(`/api/audit?target=${target}&limit=500`)).json<{ events: AuditEvent[] }>().events;
}

/** Waits for a session's end (`session.ended`, or `session.failed` if it never started) in the audit log. */
export async function sessionEnd(auditor: Browserless, sessionId: string, timeoutMs = 15_000): Promise<AuditEvent> {
  let found: AuditEvent | undefined;
  await waitFor(
    async () => {
      found = (await auditEvents(auditor, `session:${sessionId}`)).find((e) => e.action === 'session.ended' || e.action === 'session.failed');
      return found !== undefined;
    },
    { timeoutMs, what: `the end of session ${sessionId} in the audit log` },
  );
  return found as AuditEvent;
}
