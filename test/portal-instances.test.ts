// Several portal instances behind a real load balancer (Debian's HAProxy, health-checking
// /readyz): killing one ends its sessions for their users, who reconnect through the load
// balancer to a survivor, which also heals the registry and finalises the dead instance's
// recordings, while the other instance's users notice nothing; and a rolling restart drains:
// SIGTERM stops new sessions there (readiness, tickets and upgrades answer 503 `draining`),
// warns the live ones, ends them after AIRLOCK_DRAIN_SECONDS and finalises them before exiting.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { startFleet, type Fleet } from './support/fleet.ts';
import { Browserless } from './support/http.ts';
import { redisDbUrl, sharedGuacd, testServices } from './support/services.ts';
import { auditEvents, createRequest, sessionEnd, sessionTicket, windowFromNow } from './support/workflow.ts';
import { openTunnel, type Tunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { demoCredentials, demoInventory } from '../dev/demo-inventory.ts';
import { InventoryStore } from '../server/inventory/store.ts';
import { Vault } from '../server/vault/vault.ts';
import { parseKeyring } from '../server/keyring.ts';
import type { RedisClient } from '../server/redis.ts';
import { SESSION_COOKIE } from '../server/http/session.ts';
import { RESTART_MESSAGE } from '../sessions/broker.ts';
import { AIRLOCK_NOTICE_MSG } from '../sessions/tunnel/transport.ts';
import { INSTANCE_TTL_SECONDS, HEARTBEAT_INTERVAL_MS } from '../sessions/registry.ts';

const REDIS_DB = 12;
/** The drain in the rolling restart: short, the test waits it out. */
const DRAIN_SECONDS = 3;
/** A dead instance's heartbeat lapses, then the next housekeeping round of a survivor heals. */
const HEAL_BUDGET_MS = INSTANCE_TTL_SECONDS * 1000 + 2 * HEARTBEAT_INTERVAL_MS + 10_000;

let dir: string;
let fleet: Fleet;
let redis: RedisClient;
/** Signed in: the vendors, the plant manager, the auditor. */
let vera: Browserless, victor: Browserless, mona: Browserless, aude: Browserless;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-fleet-'));
  const redisUrl = redisDbUrl(REDIS_DB);
  redis = createClient({ url: redisUrl });
  await redis.connect();
  await redis.flushDb();
  fleet = await startFleet({ ids: ['a', 'b'], dir, redisUrl, guacd: sharedGuacd(), env: { AIRLOCK_DRAIN_SECONDS: String(DRAIN_SECONDS) } });
  const services = testServices();
  await new InventoryStore(redis).seed(demoInventory(services), true);
  const vault = new Vault(redis, parseKeyring(fleet.vaultKeys));
  for (const [machineId, credential] of Object.entries(demoCredentials(services))) await vault.store(machineId, credential);
  [vera, victor, mona, aude] = await Promise.all([fleet.signIn('vera'), fleet.signIn('victor'), fleet.signIn('mona'), fleet.signIn('aude')]);
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
  redis?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** A grant starting in a moment, approved through the load balancer; resolves once sessions may open. */
async function grant(vendor: Browserless, machineId: string): Promise<string> {
  const id = await createRequest(vendor, { machineId, ...windowFromNow(1_200, 10 * 60_000) });
  const approved = await mona.post(`/api/requests/${id}/approve`, {});
  if (approved.status !== 200) throw new Error(`approve failed (${approved.status}): ${approved.text}`);
  await waitFor(async () => (await vendor.post('/api/sessions', { requestId: id })).status === 201, { timeoutMs: 10_000, what: 'the grant to start' });
  return id;
}

/** Opens a session through the load balancer and waits for its first frame. */
async function open(vendor: Browserless, grantId: string): Promise<{ id: string; tunnel: Tunnel }> {
  const { ticket, id } = await sessionTicket(vendor, grantId);
  const opened = await openTunnel(vendor, { ticket });
  if (!opened.ok) throw new Error(`tunnel refused: ${opened.status} ${opened.body}`);
  await opened.tunnel.firstFrame();
  return { id, tunnel: opened.tunnel };
}

/** The instance holding a live session, as the registry says. */
async function holder(sessionId: string): Promise<string | undefined> {
  const sessions = (await mona.get('/api/sessions')).json<{ sessions: Array<{ id: string; instance: string }> }>().sessions;
  return sessions.find((s) => s.id === sessionId)?.instance.replace(/^portal-/, '');
}

/** Opens (again) until the session lands on `where` (round robin: a try or two). */
async function openOn(vendor: Browserless, grantId: string, where: (instance: string | undefined) => boolean): Promise<{ id: string; tunnel: Tunnel; instance: string }> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const session = await open(vendor, grantId);
    // The registry entry is written as the first frame arrives: wait for it.
    let instance: string | undefined;
    await waitFor(async () => (instance = await holder(session.id)) !== undefined, { timeoutMs: 10_000, what: 'the session in the registry' });
    if (instance !== undefined && where(instance)) return { ...session, instance };
    // Opening again takes the older one over (one session per grant): it ends by itself.
  }
  throw new Error('the load balancer never placed the session where wanted');
}

/** The session still relays: keys typed now come back as screen updates. */
async function stillRelays(tunnel: Tunnel, what: string): Promise<void> {
  expect(tunnel.ws.readyState).toBe(tunnel.ws.OPEN);
  const before = tunnel.outputBytes;
  tunnel.typeText(`echo ${what}\n`);
  await waitFor(() => tunnel.outputBytes > before, { timeoutMs: 10_000, what: `the session to relay (${what})` });
}

describe('portal instances behind HAProxy', () => {
  let veraGrant: string;
  let victorGrant: string;
  let vera1: { id: string; tunnel: Tunnel; instance: string };
  let victor2: { id: string; tunnel: Tunnel; instance: string };

  test('killing one instance: its users reconnect to the survivor, which heals the registry and finalises their recordings; the other users notice nothing', async () => {
    veraGrant = await grant(vera, 'cnc-07');
    victorGrant = await grant(victor, 'cnc-07');
    vera1 = await openOn(vera, veraGrant, () => true);
    const victor1 = await openOn(victor, victorGrant, (i) => i !== vera1.instance);
    const dead = victor1.instance;
    const survivor = vera1.instance;

    const killed = await fleet.signal(dead, 'SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    // The user's tunnel closes (no goodbye from a killed process): the browser reconnects by itself.
    await expect(Promise.race([victor1.tunnel.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('tunnel still open')), 10_000))])).resolves.toBeDefined();
    victor2 = await openOn(victor, victorGrant, (i) => i === survivor);

    // The survivor's user noticed nothing.
    await stillRelays(vera1.tunnel, 'after-the-kill');
    expect(vera1.tunnel.instructions.some((i) => i[0] === 'error')).toBe(false);

    // The survivor heals the registry (session.lost) and finalises the dead instance's recording.
    await waitFor(async () => (await holder(victor1.id)) === undefined, { timeoutMs: HEAL_BUDGET_MS, what: 'the registry to drop the dead instance’s session' });
    await waitFor(async () => (await auditEvents(aude, `session:${victor1.id}`)).some((e) => e.action === 'recording.finalised'), {
      timeoutMs: HEAL_BUDGET_MS,
      what: 'the dead instance’s recording to be finalised',
    });
    const events = await auditEvents(aude, `session:${victor1.id}`);
    expect(events.find((e) => e.action === 'session.lost')).toMatchObject({ reason: 'instance_lost', details: { instance: `portal-${dead}` } });
    await stillRelays(victor2.tunnel, 'on-the-survivor');
    expect((await aude.get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
  }, 120_000);

  test('a rolling restart drains: readiness, tickets and upgrades say 503 draining, live sessions are warned, ended after the drain and finalised before the process exits 0', async () => {
    const draining = vera1.instance;
    const other = draining === 'a' ? 'b' : 'a';
    await fleet.start(other);
    await fleet.haproxy.waitForServer(other, 'UP');
    // Victor moves to the restarted instance; Vera stays on the one about to restart.
    const victor3 = await openOn(victor, victorGrant, (i) => i === other);
    const direct = fleet.instances.get(draining)!.url;
    const ticket = (await sessionTicket(vera, veraGrant)).ticket;

    const sigtermAt = Date.now();
    const exited = fleet.signal(draining, 'SIGTERM');
    await waitFor(async () => (await fetch(`${direct}/readyz`)).status === 503, { timeoutMs: 5_000, what: 'readiness to say draining' });
    expect(await (await fetch(`${direct}/readyz`)).json()).toMatchObject({ error: { code: 'draining' } });
    const veraDirect = new Browserless(direct);
    veraDirect.setCookie(SESSION_COOKIE, vera.cookie(SESSION_COOKIE) ?? '');
    const refusedTicket = await veraDirect.post('/api/sessions', { requestId: veraGrant }, { origin: fleet.url });
    expect(refusedTicket.status).toBe(503);
    expect(refusedTicket.json()).toMatchObject({ error: { code: 'draining' } });
    const refusedUpgrade = await openTunnel(veraDirect, { ticket, origin: fleet.url });
    expect(refusedUpgrade).toMatchObject({ ok: false, status: 503 });
    expect(refusedUpgrade.ok === false && JSON.parse(refusedUpgrade.body)).toMatchObject({ error: { code: 'draining' } });

    // The live session is warned, then ended with the restart message after the drain.
    const notice = await vera1.tunnel.waitFor((i) => i[0] === 'msg' && i[1] === String(AIRLOCK_NOTICE_MSG), 5_000, 'the restart notice');
    expect(notice[2]).toBe(RESTART_MESSAGE);
    await fleet.haproxy.waitForServer(draining, 'DOWN');
    expect(await vera1.tunnel.errorMessage((DRAIN_SECONDS + 10) * 1000)).toBe(RESTART_MESSAGE);
    // Not before the drain time: users get that long to finish what they were doing.
    expect(Date.now() - sigtermAt).toBeGreaterThanOrEqual(DRAIN_SECONDS * 1000);
    expect(await exited).toEqual({ code: 0, signal: null });
    // It finalised what it ended before it exited.
    const ends = await auditEvents(aude, `session:${vera1.id}`);
    expect(ends.find((e) => e.action === 'session.ended')).toMatchObject({ reason: 'portal_restarting' });
    expect(ends.some((e) => e.action === 'recording.finalised')).toBe(true);

    // The user reconnects through the load balancer, to the other instance; its users noticed nothing.
    const vera2 = await openOn(vera, veraGrant, (i) => i === other);
    await stillRelays(vera2.tunnel, 'after-the-restart');
    await stillRelays(victor3.tunnel, 'never-noticed');
    expect(victor3.tunnel.instructions.some((i) => i[0] === 'error' || i[0] === 'msg')).toBe(false);

    // …and the restarted instance comes back.
    await fleet.start(draining);
    await fleet.haproxy.waitForServer(draining, 'UP');
    expect((await aude.get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
    for (const t of [vera2.tunnel, victor3.tunnel]) await t.close();
    await sessionEnd(aude, vera2.id);
  }, 120_000);
});
