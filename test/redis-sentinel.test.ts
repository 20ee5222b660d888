// Redis high availability through Sentinel, on a real master, two replicas and three sentinels:
// the master dies (SIGKILL) or hangs (SIGSTOP) in the middle of the portal's work; the portal
// carries on after the failover and loses nothing it acknowledged, because the writes that
// matter are confirmed by a replica (WAIT) before they are acknowledged — and a write no replica
// confirmed is refused, so a failover cannot undo a decision or bring a used ticket back.
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { startServices, type SentinelTopology, type Supervisor } from '../dev/supervisor.ts';
import { sentinelMaster, waitForTopology } from '../dev/sentinel.ts';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, grantNow, readRequest, seedDemoPlant, sessionEnd, sessionTicket } from './support/workflow.ts';
import { openSession, openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { FakeSlack } from '../dev/fakes/slack.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import { enterLinkCode, linkCodeIn, SLACK, slackCardIn, slackUser, startChatPortal } from './support/chat.ts';

/** The portal's Redis command timeout (the default): a call with no master answers 503 by then. */
const COMMAND_TIMEOUT_MS = 3_000;
/** How long a durable write waits for a replica's confirmation. */
const WAIT_TIMEOUT_MS = 500;
/**
 * A failover here: 1 s until the sentinels call the master down, about a second to elect and
 * promote, up to two more until node-redis moves over. Generous: the machine is shared.
 */
const RECOVERY_BUDGET_MS = 30_000;
/** Bigger than what loopback socket buffers hold, so writes behind it stay in the master's memory. */
const FILLER_BYTES = 48 * 1024 * 1024;

let stateDir: string;
let supervisor: Supervisor;
let topology: SentinelTopology;
let portal: TestPortal;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;

beforeAll(async () => {
  stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-sentinel-'));
  supervisor = await startServices({ stateDir, services: ['sentinel'] });
  topology = supervisor.services.sentinel!;
  portal = await startTestPortal({
    AIRLOCK_REDIS_URL: undefined,
    AIRLOCK_REDIS_SENTINELS: topology.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
    AIRLOCK_REDIS_MASTER_NAME: topology.masterName,
    AIRLOCK_REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
    AIRLOCK_REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS),
    // The load below is one vendor and one manager, as fast as they can.
    AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: '100000',
    AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: '100000',
  });
  await seedDemoPlant(portal, { targets: true });
  [vera, mona, aude] = await Promise.all([loginAs(portal.publicUrl, 'vera'), loginAs(portal.publicUrl, 'mona'), loginAs(portal.publicUrl, 'aude')]);
}, 60_000);

afterAll(async () => {
  await portal?.close();
  await supervisor?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

/** Brings a node that was master back as a replica of the current one, and waits until the sentinels could fail over again. */
async function restore(oldMaster: number, newMaster: number): Promise<void> {
  await supervisor.restartRedisNode(oldMaster, { replicaOf: newMaster });
  await waitForTopology(topology, { timeoutMs: RECOVERY_BUDGET_MS });
}

/** Everything the portal said it did, to be checked after the failover. */
interface Acknowledged {
  created: string[];
  approved: string[];
  revoked: string[];
  /** Tickets whose consumption the upgrade guard would have honoured. */
  consumed: string[];
}

interface Outcome {
  op: string;
  ok: boolean;
  startedAt: number;
  ms: number;
}

/** Repeats `body` until told to stop, recording each attempt's outcome. */
function repeat(op: string, outcomes: Outcome[], running: () => boolean, body: () => Promise<void>): Promise<void> {
  return (async () => {
    while (running()) {
      const startedAt = Date.now();
      const ok = await body().then(
        () => true,
        () => false,
      );
      outcomes.push({ op, ok, startedAt, ms: Date.now() - startedAt });
    }
  })();
}

/** Server-sent events of /api/events as `agent` receives them, collected from now on. */
function listen(agent: Browserless): { events: Array<{ type: string; requestId: string; state: string }>; close: () => void } {
  const controller = new AbortController();
  const events: Array<{ type: string; requestId: string; state: string }> = [];
  void (async () => {
    const res = await fetch(new URL('/api/events', agent.base), { headers: { cookie: agent.cookieHeader() }, signal: controller.signal });
    const reader = res.body?.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const chunk = await reader?.read();
      if (chunk === undefined || chunk.done) return;
      buffer += decoder.decode(chunk.value, { stream: true });
      for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
        const data = /^data: (.*)$/m.exec(buffer.slice(0, i))?.[1];
        buffer = buffer.slice(i + 2);
        if (data !== undefined) events.push(JSON.parse(data) as { type: string; requestId: string; state: string });
      }
    }
  })().catch(() => undefined);
  return { events, close: () => controller.abort() };
}

describe('Redis Sentinel failover', () => {
  test('the master killed in the middle of sign-ins, requests, approvals, revocations, tickets, SSE and a live session: the portal carries on and loses nothing it acknowledged', async () => {
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    const live = await openSession(vera, grant);
    const sse = listen(mona);
    const done: Acknowledged = { created: [], approved: [], revoked: [], consumed: [] };
    const outcomes: Outcome[] = [];
    let running = true;
    const loops = [
      repeat('sign-in', outcomes, () => running, async () => {
        await loginAs(portal.publicUrl, 'olga');
      }),
      repeat('decide', outcomes, () => running, async () => {
        const id = await createRequest(vera, { machineId: 'press-hmi' });
        done.created.push(id);
        const approved = await mona.post(`/api/requests/${id}/approve`, {});
        if (approved.status !== 200) throw new Error(`approve: ${approved.status}`);
        done.approved.push(id);
        const revoked = await mona.post(`/api/requests/${id}/revoke`, { reason: 'failover test' });
        if (revoked.status !== 200) throw new Error(`revoke: ${revoked.status}`);
        done.revoked.push(id);
      }),
      repeat('ticket', outcomes, () => running, async () => {
        const { ticket } = await sessionTicket(vera, grant);
        if ((await portal.services.broker.tickets.consume(ticket)) === undefined) throw new Error('ticket refused');
        done.consumed.push(ticket);
      }),
      repeat('read', outcomes, () => running, async () => {
        const res = await vera.get(`/api/requests/${grant}`);
        if (res.status !== 200) throw new Error(`read: ${res.status}`);
      }),
    ];
    const ops = ['sign-in', 'decide', 'ticket', 'read'];
    const succeededSince = (since: number, times = 1): boolean => ops.every((op) => outcomes.filter((o) => o.op === op && o.ok && o.startedAt >= since).length >= times);
    try {
      await waitFor(() => succeededSince(0, 2), { timeoutMs: 20_000, what: 'the load to run' });
      const oldMaster = await sentinelMaster(topology);
      const killedAt = Date.now();
      await supervisor.signalRedisNode(oldMaster, 'SIGKILL');
      // Every kind of call works again, started after the kill, within a bounded time.
      await waitFor(() => succeededSince(killedAt), { timeoutMs: RECOVERY_BUDGET_MS, what: 'every operation to succeed again after the failover' });
      const recoveredAt = Date.now();
      await waitFor(() => succeededSince(recoveredAt, 2), { timeoutMs: RECOVERY_BUDGET_MS, what: 'the load to carry on' });
      running = false;
      await Promise.all(loops);
      const newMaster = await sentinelMaster(topology);
      expect(newMaster).not.toBe(oldMaster);
      // The kill did land mid-load: calls made after it waited for the new master (or gave up).
      expect(Math.max(...outcomes.filter((o) => o.startedAt >= killedAt).map((o) => o.ms))).toBeGreaterThan(500);

      // Nothing acknowledged is lost.
      for (const id of done.created) expect((await vera.get(`/api/requests/${id}`)).status).toBe(200);
      for (const id of done.approved) expect(['approved', 'revoked']).toContain((await readRequest(mona, id)).state);
      for (const id of done.revoked) expect((await readRequest(mona, id)).state).toBe('revoked');
      // A ticket once honoured is never honoured again, in Redis or at the WebSocket.
      expect(done.consumed.length).toBeGreaterThan(0);
      for (const ticket of done.consumed) expect(await portal.services.broker.tickets.consume(ticket)).toBeUndefined();
      const again = await openTunnel(vera, { ticket: done.consumed.at(-1) ?? '' });
      expect(again).toMatchObject({ ok: false, status: 403 });

      // The SSE stream opened before the kill still delivers, now from the new master.
      const id = await createRequest(vera, { machineId: 'press-hmi' });
      expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200);
      await waitFor(() => sse.events.some((e) => e.requestId === id && e.state === 'approved'), { timeoutMs: 10_000, what: 'the decision on the old event stream' });

      // The live session went through the failover: it still relays, and a revoke still ends it.
      expect(live.tunnel.ws.readyState).toBe(live.tunnel.ws.OPEN);
      const before = live.tunnel.outputBytes;
      live.tunnel.typeText('echo through-the-failover\n');
      await waitFor(() => live.tunnel.outputBytes > before, { timeoutMs: 10_000, what: 'the session to relay after the failover' });
      expect((await mona.post(`/api/requests/${grant}/revoke`, { reason: 'after the failover' })).status).toBe(200);
      expect(await live.tunnel.errorMessage(10_000)).toBe('Access to this machine was revoked.');
      expect((await sessionEnd(aude, live.id)).reason).toBe('revoked');

      expect((await aude.get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
      await restore(oldMaster, newMaster);
    } finally {
      running = false;
      sse.close();
      live.tunnel.ws.terminate();
    }
  }, 120_000);

  test('a decision or a ticket use that no replica confirmed is refused (503), so the failover that loses it undoes nothing acknowledged', async () => {
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    const pending = await createRequest(vera, { machineId: 'press-hmi' });
    const { ticket } = await sessionTicket(vera, grant);
    const oldMaster = await sentinelMaster(topology);
    const replicas = topology.nodes.map((n) => n.port).filter((p) => p !== oldMaster);
    // The replicas stop reading, and a large write fills what the sockets between them and the
    // master can hold: whatever the master does next exists on the master alone.
    for (const port of replicas) await supervisor.signalRedisNode(port, 'SIGSTOP');
    let newMaster: number | undefined;
    try {
      const filler = createClient({ socket: { host: '127.0.0.1', port: oldMaster } });
      await filler.connect();
      await filler.set('airlock-test-filler', 'x'.repeat(FILLER_BYTES));
      filler.destroy();

      const approve = await mona.post(`/api/requests/${pending}/approve`, { comment: 'no replica will hear of this' });
      expect(approve.status).toBe(503);
      expect(approve.json()).toMatchObject({ error: { code: 'store_not_durable' } });
      const upgrade = await openTunnel(vera, { ticket });
      expect(upgrade).toMatchObject({ ok: false, status: 503 });

      await supervisor.signalRedisNode(oldMaster, 'SIGKILL');
    } finally {
      for (const port of replicas) await supervisor.signalRedisNode(port, 'SIGCONT');
    }
    newMaster = await waitForTopology(topology, { timeoutMs: RECOVERY_BUDGET_MS, notOn: oldMaster, replicas: 1 });
    await waitFor(async () => (await vera.get(`/api/requests/${pending}`)).status === 200, { timeoutMs: RECOVERY_BUDGET_MS, what: 'the portal on the new master' });

    // The failover did lose both writes (they were on the old master only)…
    expect((await readRequest(mona, pending)).state).toBe('pending');
    // …and the ticket's deletion with them: had the upgrade been let in, this would be its second use.
    expect(await portal.services.broker.tickets.consume(ticket)).toMatchObject({ requestId: grant });
    // Neither had been acknowledged, so nothing acknowledged was lost; the chain holds.
    expect((await aude.get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
    expect((await mona.post(`/api/requests/${pending}/approve`, { comment: 'now for real' })).status).toBe(200);
    await restore(oldMaster, newMaster);
  }, 120_000);

  test('a hung master (SIGSTOP): calls are answered within the command timeout instead of hanging, and the portal carries on after the failover', async () => {
    const id = await createRequest(vera, { machineId: 'press-hmi' });
    const oldMaster = await sentinelMaster(topology);
    await supervisor.signalRedisNode(oldMaster, 'SIGSTOP');
    try {
      const started = Date.now();
      const during = await vera.get(`/api/requests/${id}`);
      // Answered: by the old master never, so either 503 at the deadline or 200 from the new master.
      expect([200, 503]).toContain(during.status);
      // Each Redis call of the request has its deadline; a request makes only a few.
      expect(Date.now() - started).toBeLessThan(3 * COMMAND_TIMEOUT_MS + 1_000);
      const newMaster = await waitForTopology(topology, { timeoutMs: RECOVERY_BUDGET_MS, notOn: oldMaster, replicas: 1 });
      await waitFor(async () => (await mona.post(`/api/requests/${id}/approve`, {})).status === 200, { timeoutMs: RECOVERY_BUDGET_MS, what: 'an approval on the new master' });
      expect((await readRequest(vera, id)).state).toBe('approved');
      await supervisor.signalRedisNode(oldMaster, 'SIGKILL');
      expect((await aude.get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
      await restore(oldMaster, newMaster);
    } finally {
      await supervisor.signalRedisNode(oldMaster, 'SIGCONT').catch(() => undefined);
    }
  }, 120_000);

  // Regression (patches/@redis+client): node-redis held every command while it looked for a
  // sentinel, so losing the sentinels stopped a portal whose master was fine, and it printed
  // each failed look on the console.
  test('the sentinels all gone: the portal works on with its master, silently; back, they fail over again', async () => {
    const id = await createRequest(vera, { machineId: 'press-hmi' });
    const printed = jest.spyOn(console, 'log');
    try {
      for (const s of topology.sentinels) await supervisor.signalRedisNode(s.port, 'SIGKILL');
      // Long enough for node-redis to notice and look for them a few times.
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        const started = Date.now();
        expect((await vera.get(`/api/requests/${id}`)).status).toBe(200);
        expect(Date.now() - started).toBeLessThan(COMMAND_TIMEOUT_MS);
      }
      expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200);
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
      for (const s of topology.sentinels) await supervisor.restartRedisNode(s.port).catch(() => undefined);
    }
    const master = await waitForTopology(topology, { timeoutMs: RECOVERY_BUDGET_MS });
    await supervisor.signalRedisNode(master, 'SIGKILL');
    const newMaster = await waitForTopology(topology, { timeoutMs: RECOVERY_BUDGET_MS, notOn: master, replicas: 1 });
    await waitFor(async () => (await mona.post(`/api/requests/${id}/revoke`, { reason: 'after the sentinels came back' })).status === 200, {
      timeoutMs: RECOVERY_BUDGET_MS,
      what: 'a revocation on the new master',
    });
    expect((await readRequest(vera, id)).state).toBe('revoked');
    await restore(master, newMaster);
  }, 120_000);

  test('a Slack Approve clicked while the master is killed: the approval Slack was told about survives the failover; one it was not told about can be clicked again', async () => {
    const slack = await FakeSlack.start(SLACK);
    const MONA = slackUser('mona');
    slack.addUser(MONA);
    const sentinelEnv = {
      AIRLOCK_REDIS_URL: undefined,
      AIRLOCK_REDIS_SENTINELS: topology.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      AIRLOCK_REDIS_MASTER_NAME: topology.masterName,
      AIRLOCK_REDIS_COMMAND_TIMEOUT_MS: String(COMMAND_TIMEOUT_MS),
      AIRLOCK_REDIS_WAIT_TIMEOUT_MS: String(WAIT_TIMEOUT_MS),
    };
    const chat = await startChatPortal(
      {
        slack: { botToken: SLACK.botToken, signingSecret: SLACK.signingSecret, allowedTeams: [SLACK.teamId], allowedApps: [SLACK.appId], apiUrl: slack.apiUrl },
        sites: { 'site-a': { slack: { channel: 'CSENTINEL', directMessages: false } } },
      },
      0,
      sentinelEnv,
    );
    try {
      const url = `${chat.portal.publicUrl}${SLACK_INTERACTIONS_PATH}`;
      const [cv, cm] = await Promise.all([loginAs(chat.portal.publicUrl, 'vera'), loginAs(chat.portal.publicUrl, 'mona')]);
      // What mona sees: the reply, or (any other answer than 200) Slack's own error on the button.
      const reply = async (card: Awaited<ReturnType<typeof slackCardIn>>): Promise<string> => {
        const seen = slack.ephemeralCount(MONA.id);
        const res = await slack.click(url, card, 'approve', MONA);
        if (res.status !== 200) return `slack shows an error (${res.status})`;
        return slack.ephemeralAfter(MONA.id, seen, RECOVERY_BUDGET_MS);
      };
      // mona links her Slack account on a first card, before anything goes wrong.
      const first = await createRequest(cv, { machineId: 'cnc-07' });
      await enterLinkCode(cm, linkCodeIn(await reply(await slackCardIn(slack, 'CSENTINEL', first))));
      const ids = await Promise.all(Array.from({ length: 3 }, () => createRequest(cv, { machineId: 'cnc-07' })));
      const cards = await Promise.all(ids.map((id) => slackCardIn(slack, 'CSENTINEL', id)));

      const oldMaster = await sentinelMaster(topology);
      await supervisor.signalRedisNode(oldMaster, 'SIGKILL');
      // Clicked while there is no master: each reply says approved, or that nothing was done.
      const replies = await Promise.all(cards.map((card) => reply(card)));
      const newMaster = await waitForTopology(topology, { timeoutMs: RECOVERY_BUDGET_MS, notOn: oldMaster, replicas: 1 });
      for (const [i, text] of replies.entries()) {
        const id = ids[i] ?? '';
        if (text.includes('You approved')) {
          expect((await readRequest(cm, id)).state).toBe('approved');
        } else {
          // Not acknowledged (an error in Slack, or a reply that nothing was done): the same
          // button works once Redis is back.
          expect(text).not.toMatch(/you approved/i);
          // (An unconfirmed write may still have landed: then the request is approved already.)
          await waitFor(async () => (await readRequest(cm, id)).state === 'approved' || (await reply(cards[i]!)).includes('You approved'), { timeoutMs: RECOVERY_BUDGET_MS, what: 'the click to work after the failover' });
          expect((await readRequest(cm, id)).state).toBe('approved');
        }
      }
      expect((await (await loginAs(chat.portal.publicUrl, 'aude')).get('/api/audit/verify')).json()).toMatchObject({ ok: true, firstBroken: null });
      await restore(oldMaster, newMaster);
    } finally {
      await chat.close();
      await slack.close();
    }
  }, 120_000);
});
