// Required observer, fail closed: when Redis stops answering (SIGSTOP: the socket stays open,
// nothing answers), the gate cannot confirm the observer and holds the vendor's input within
// about a second, tells the vendor, and lets input flow again once Redis answers. A private
// Redis, since this suite freezes it.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { privateServices, type PrivateServices } from './support/private-services.ts';
import { loginAll, type Browserless } from './support/http.ts';
import { grantNow } from './support/workflow.ts';
import { openSession, openTunnel, type Tunnel } from './support/tunnel.ts';
import { testServices } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import { demoCredentials, demoInventory } from '../dev/demo-inventory.ts';
import { AIRLOCK_OBSERVER_MSG } from '../sessions/tunnel/transport.ts';
import type { GuacInstruction } from '../sessions/tunnel/protocol.ts';

let services: PrivateServices;
let portal: TestPortal;
let vera: Browserless;
let mona: Browserless;

const OBSERVER_MSG = String(AIRLOCK_OBSERVER_MSG);
function nextState(tunnel: Tunnel, state: string, timeoutMs = 10_000): Promise<GuacInstruction> {
  const from = tunnel.instructions.length;
  return tunnel.waitFor((i) => tunnel.instructions.indexOf(i) >= from && i[0] === 'msg' && i[1] === OBSERVER_MSG && i[3] === state, timeoutMs, `observer state ${state}`);
}
/** Redis is this suite's only private service: freezing the services freezes Redis alone. */
const freeze = (): void => services.signal('SIGSTOP');
const thaw = (): void => services?.signal('SIGCONT');

beforeAll(async () => {
  services = await privateServices('observer-redis', ['redis']);
  portal = await startTestPortal({ AIRLOCK_REDIS_URL: services.services.redis?.url ?? '', AIRLOCK_RECORDING_SPOOL: path.join(services.stateDir, 'spool'), AIRLOCK_RECORDING_MIN_FREE_MB: '1' });
  const targets = testServices();
  const inventory = demoInventory(targets);
  inventory.machines = inventory.machines.map((m) => (m.id === 'cnc-07' ? { ...m, observer: 'required' as const } : m));
  await portal.services.inventory.seed(inventory, true);
  for (const [machineId, credential] of Object.entries(demoCredentials(targets))) await portal.services.vault.store(machineId, credential);
  [vera, mona] = await loginAll(portal.publicUrl, 'vera', 'mona');
});

afterAll(async () => {
  thaw();
  await portal?.close();
  await services?.close();
});

test('a Redis that stops answering holds the vendor’s input (fail closed) until it answers again', async () => {
  const requestId = await grantNow(portal, vera, mona, 'cnc-07');
  const { id, tunnel } = await openSession(vera, requestId);
  await tunnel.waitFor((i) => i[0] === 'msg' && i[1] === OBSERVER_MSG && i[3] === 'waiting', 10_000, 'waiting');
  const res = await mona.post(`/api/sessions/${id}/watch`, {});
  const watched = await openTunnel(mona, { ticket: res.json<{ ticket: string }>().ticket });
  if (!watched.ok) throw new Error('watch refused');
  await tunnel.waitFor((i) => i[0] === 'msg' && i[1] === OBSERVER_MSG && i[3] === 'observed', 30_000, 'observed');

  const unconfirmed = nextState(tunnel, 'unconfirmed');
  const frozenAt = Date.now();
  freeze();
  await unconfirmed;
  const heldAfterMs = Date.now() - frozenAt;
  const events = path.join(services.stateDir, 'spool', `${id}.events.jsonl`);
  const held = (): number => (existsSync(events) ? readFileSync(events, 'utf8').split('\n').filter((l) => l.includes('"observer_unconfirmed"')).length : 0);
  const tag = randomBytes(4).toString('hex');
  tunnel.typeText(`echo frozen-${tag}\n`);
  await waitFor(() => held() >= `echo frozen-${tag}\n`.length, { timeoutMs: 5_000, what: 'keys held while Redis is frozen' });

  const observed = nextState(tunnel, 'observed', 15_000);
  thaw();
  await observed;
  console.log(`observer fail-closed: held ${heldAfterMs} ms after Redis froze`);
  expect(heldAfterMs).toBeLessThan(2_000);
  await watched.tunnel.close();
  await tunnel.close();
});
