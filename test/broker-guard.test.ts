// The upgrade guard: every way in that is not "my own fresh ticket for my valid grant, from the
// Airlock page" is refused with an HTTP status and an audit event, and guacd is never dialled.
// Also: the process survives floods of garbage upgrades and garbage frames.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import net from 'node:net';
import type { TestPortal } from './support/portal.ts';
import { startProxiedPortal, type ProxiedPortal } from './support/proxied-portal.ts';
import { Browserless, loginAs, loginAll } from './support/http.ts';
import { grantNow, sessionTicket, createRequest } from './support/workflow.ts';
import { CountingGuacdProxy, openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

let lab: ProxiedPortal;
let portal: TestPortal;
let proxy: CountingGuacdProxy;
/** Signed in: the vendors, the plant manager, the auditor. */
let vera: Browserless, victor: Browserless, mona: Browserless, aude: Browserless;
let grantId: string;

async function lastRefusal(): Promise<AuditEvent | undefined> {
  const events = (await aude.get('/api/audit?action=session.upgrade&limit=1')).json<{ events: AuditEvent[] }>().events;
  return events[0];
}

beforeAll(async () => {
  lab = await startProxiedPortal('guard-spool', 5);
  ({ portal, proxy } = lab);
  [vera, victor, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona', 'aude');
  grantId = await grantNow(portal, vera, mona, 'cnc-07');
});

afterAll(async () => {
  await lab?.close();
});

describe('refused upgrades never reach guacd', () => {
  const cases: Array<[string, () => Promise<{ agent: Browserless; opts: Parameters<typeof openTunnel>[1] }>, number, string]> = [
    ['no session cookie', async () => ({ agent: vera, opts: { ticket: (await sessionTicket(vera, grantId)).ticket, cookie: null } }), 401, 'unauthenticated'],
    ['a foreign Origin', async () => ({ agent: vera, opts: { ticket: (await sessionTicket(vera, grantId)).ticket, origin: 'https://evil.example' } }), 403, 'bad_origin'],
    ['no Origin at all', async () => ({ agent: vera, opts: { ticket: (await sessionTicket(vera, grantId)).ticket, origin: null } }), 403, 'bad_origin'],
    ['a garbage ticket', async () => ({ agent: vera, opts: { ticket: 'x'.repeat(43) } }), 403, 'invalid_ticket'],
    ['another user’s ticket', async () => ({ agent: victor, opts: { ticket: (await sessionTicket(vera, grantId)).ticket } }), 403, 'ticket_not_yours'],
    [
      'a ticket from another browser session of the same user',
      async () => ({ agent: await loginAs(portal.publicUrl, 'vera'), opts: { ticket: (await sessionTicket(vera, grantId)).ticket } }),
      403,
      'ticket_not_yours',
    ],
    ['hostname injected in the query', async () => ({ agent: vera, opts: { query: `ticket=${(await sessionTicket(vera, grantId)).ticket}&hostname=10.0.0.1` } }), 400, 'bad_parameters'],
    ['recording-path injected', async () => ({ agent: vera, opts: { query: `ticket=${(await sessionTicket(vera, grantId)).ticket}&recording-path=/tmp` } }), 400, 'bad_parameters'],
    ['read-only injected', async () => ({ agent: vera, opts: { query: `ticket=${(await sessionTicket(vera, grantId)).ticket}&read-only=false` } }), 400, 'bad_parameters'],
    ['an absurd width', async () => ({ agent: vera, opts: { query: `ticket=${(await sessionTicket(vera, grantId)).ticket}&width=999999&height=768&dpi=96` } }), 400, 'bad_parameters'],
    ['a non-numeric dpi', async () => ({ agent: vera, opts: { query: `ticket=${(await sessionTicket(vera, grantId)).ticket}&dpi=96;evil` } }), 400, 'bad_parameters'],
    ['two tickets', async () => ({ agent: vera, opts: { query: `ticket=${(await sessionTicket(vera, grantId)).ticket}&ticket=${(await sessionTicket(vera, grantId)).ticket}` } }), 400, 'bad_parameters'],
  ];

  test.each(cases)('%s', async (_name, setup, status, code) => {
    const { agent, opts } = await setup();
    const before = proxy.connections;
    const result = await openTunnel(agent, opts);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.status).toBe(status);
    expect(JSON.parse(result.body)).toEqual({ error: { code, message: expect.any(String) } });
    expect(await lastRefusal()).toMatchObject({ action: 'session.upgrade', outcome: 'refused', reason: code });
    expect(proxy.connections).toBe(before);
  });

  test('a replayed ticket is refused: tickets are single-use', async () => {
    const { ticket } = await sessionTicket(vera, grantId);
    const first = await openTunnel(vera, { ticket });
    expect(first.ok).toBe(true);
    if (first.ok) {
      await first.tunnel.firstFrame();
      await first.tunnel.close();
    }
    const before = proxy.connections;
    const replay = await openTunnel(vera, { ticket });
    expect(replay).toMatchObject({ ok: false, status: 403 });
    expect(await lastRefusal()).toMatchObject({ reason: 'invalid_ticket', actor: { id: 'dev:vera' } });
    expect(proxy.connections).toBe(before);
  });

  test('an injected parameter burns the ticket', async () => {
    const { ticket } = await sessionTicket(vera, grantId);
    expect(await openTunnel(vera, { query: `ticket=${ticket}&guacdHost=10.9.9.9` })).toMatchObject({ ok: false, status: 400 });
    expect(await openTunnel(vera, { ticket })).toMatchObject({ ok: false, status: 403 });
  });

  test('a grant revoked after the ticket was issued is refused at the upgrade', async () => {
    const id = await grantNow(portal, victor, mona, 'press-hmi');
    const { ticket } = await sessionTicket(victor, id);
    expect((await mona.post(`/api/requests/${id}/revoke`, { reason: 'test' })).status).toBe(200);
    const before = proxy.connections;
    expect(await openTunnel(victor, { ticket })).toMatchObject({ ok: false, status: 409 });
    expect(await lastRefusal()).toMatchObject({ reason: 'grant_invalid' });
    expect(proxy.connections).toBe(before);
  });

  test('an expired window gets no ticket, and its ticket no tunnel', async () => {
    const id = await grantNow(portal, vera, mona, 'press-hmi', 2_500);
    const { ticket } = await sessionTicket(vera, id);
    await waitFor(async () => (await portal.services.requests.grantFor('dev:vera', 'press-hmi')) === undefined, { timeoutMs: 5_000, what: 'the window to end' });
    const refused = await vera.post('/api/sessions', { requestId: id });
    expect(refused.status).toBe(403);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('no_grant');
    const before = proxy.connections;
    expect(await openTunnel(vera, { ticket })).toMatchObject({ ok: false, status: 409 });
    expect(proxy.connections).toBe(before);
  });

  test('no ticket for a machine the grant does not cover, nor for someone else’s grant', async () => {
    const pending = await createRequest(vera, { machineId: 'press-hmi' });
    const res = await vera.post('/api/sessions', { requestId: pending });
    expect(res.status).toBe(403);
    expect(res.json<{ error: { code: string } }>().error.code).toBe('no_grant');
    expect((await victor.post('/api/sessions', { requestId: grantId })).status).toBe(404);
    expect((await mona.post('/api/sessions', { requestId: grantId })).status).toBe(404);
  });
});

describe('garbage', () => {
  test('the process survives a flood of garbage upgrades', async () => {
    const port = Number(new URL(portal.publicUrl).port);
    const garbage = [
      'GET /tunnel HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'GET /tunnel?ticket=%ZZ HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nOrigin: ' + portal.publicUrl + '\r\n\r\n',
      'GET /nope HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'GET /tunnel HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: airlock.sid=s%3Agarbage.sig\r\nOrigin: ' + portal.publicUrl + '\r\n\r\n',
      '\u0000\u0001\u0002 garbage \r\n\r\n',
      'GET /tunnel HTTP/1.1\r\nUpgrade: websocket\r\n' + 'X: y\r\n'.repeat(500) + '\r\n',
    ];
    const before = proxy.connections;
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        new Promise<void>((resolve) => {
          const socket = net.connect(port, '127.0.0.1', () => socket.end(garbage[i % garbage.length] ?? ''));
          socket.on('data', () => undefined);
          socket.on('close', () => resolve());
          socket.on('error', () => resolve());
        }),
      ),
    );
    expect(proxy.connections).toBe(before);
    expect((await new Browserless(portal.publicUrl).get('/healthz')).status).toBe(200);
    expect((await vera.get('/api/me')).status).toBe(200);
  });

  test('garbage frames end only that session', async () => {
    // Two users' sessions: a second session on one grant would take over the first (one per grant).
    const other = await grantNow(portal, victor, mona, 'cnc-07');
    const a = await openTunnel(vera, { ticket: (await sessionTicket(vera, grantId)).ticket });
    const b = await openTunnel(victor, { ticket: (await sessionTicket(victor, other)).ticket });
    if (!a.ok || !b.ok) throw new Error('tunnels refused');
    await Promise.all([a.tunnel.firstFrame(), b.tunnel.firstFrame()]);
    a.tunnel.ws.send('this is not the guacamole protocol;;;');
    a.tunnel.ws.send(Buffer.from([0xff, 0xfe, 0x00]));
    await a.tunnel.closed;
    // b still works: its output keeps flowing after input.
    const before = b.tunnel.outputBytes;
    b.tunnel.typeText('echo still-alive\n');
    await waitFor(() => b.tunnel.outputBytes > before, { timeoutMs: 10_000, what: 'output after garbage on another session' });
    await b.tunnel.close();
    expect((await new Browserless(portal.publicUrl).get('/healthz')).status).toBe(200);
  });
});
