// Helpers for the access-workflow suites: the demo inventory on a portal, request bodies.
import { demoInventory } from '../../server/dev/demo-inventory.ts';
import type { Portal } from '../../server/portal.ts';
import type { Browserless } from './http.ts';

/** Seeds the demo plant (targets unreachable: these suites test the workflow, not sessions). */
export async function seedDemoPlant(portal: Portal): Promise<void> {
  await portal.services.inventory.seed(demoInventory({}), true);
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
