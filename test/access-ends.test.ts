// Security (1), access ends when it should: a revoke during set-up, a revoke whose message was
// lost, a sign-out, an unreachable state store, and "terminate and revoke" (items 6–8, 11).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { privateServices, type PrivateServices } from './support/private-services.ts';
import { startProxiedPortal, type ProxiedPortal } from './support/proxied-portal.ts';
import { Browserless, loginAs, loginAll } from './support/http.ts';
import { auditEvents, grantNow, readRequest, seedDemoPlant, sessionEnd, sessionTicket } from './support/workflow.ts';
import { CountingGuacdProxy, openSession, openTunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { RequestStore } from '../server/requests/store.ts';

const WAIT = { timeoutMs: 15_000 };



describe('on one portal', () => {
  let lab: ProxiedPortal;
  let portal: TestPortal;
  let proxy: CountingGuacdProxy;
  /** Signed in: the vendors, the plant manager, the auditor. */
  let vera: Browserless, victor: Browserless, mona: Browserless, aude: Browserless;

  beforeAll(async () => {
    // Set-ups 4 s apart: a second session waits for its slot long enough to be revoked meanwhile.
    lab = await startProxiedPortal('access-ends', 15, { AIRLOCK_GUACD_PACE_MS: '4000' });
    ({ portal, proxy } = lab);
    [vera, victor, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona', 'aude');
  });

  afterAll(async () => {
    await lab?.close();
  });

  test('a revoke that arrives while a session waits for its set-up slot is applied: guacd is never dialled', async () => {
    const first = await openSession(vera, await grantNow(portal, vera, mona, 'cnc-07'));
    const grant = await grantNow(portal, victor, mona, 'cnc-07');
    const { ticket, id } = await sessionTicket(victor, grant);
    const before = proxy.connections;
    const waiting = await openTunnel(victor, { ticket });
    if (!waiting.ok) throw new Error('tunnel refused');
    expect((await mona.post(`/api/requests/${grant}/revoke`, { reason: 'wrong machine' })).status).toBe(200);
    expect(await waiting.tunnel.errorMessage()).toBe('Access to this machine was revoked.');
    await waiting.tunnel.closed;
    // Past the slot's time: had the session gone on, it would have dialled guacd by now.
    await waitFor(async () => (await auditEvents(aude, `request:${grant}`)).some((e) => e.action === 'session.open' && e.reason === 'revoked'), { ...WAIT, what: 'the refused open' });
    expect(proxy.connections).toBe(before);
    expect((await readRequest(aude, grant)).state).toBe('revoked');
    expect(portal.services.broker.localSessionIds()).not.toContain(id);
    await first.tunnel.close();
  });

  test('a revoke whose message was lost still ends the session: every live grant is re-read', async () => {
    const grant = await grantNow(portal, victor, mona, 'cnc-07');
    const session = await openSession(victor, grant);
    // The state changes as a revoke does (the real transition and its audit event), but no
    // domain event is published: only the periodic re-check can notice.
    const result = await new RequestStore(portal.redis).transition(grant, 'revoke', { id: 'dev:mona', name: 'Mona Manager' }, { reason: 'silent' }, new Date());
    expect(result.ok).toBe(true);
    expect(await session.tunnel.errorMessage()).toBe('Access to this machine was revoked.');
    expect(await sessionEnd(aude, session.id)).toMatchObject({ reason: 'revoked' });
  });

  test('sign-out ends the vendor’s live session, and a manager’s sign-out ends their watch view', async () => {
    const veraAgain = await loginAs(portal.publicUrl, 'vera');
    const session = await openSession(veraAgain, await grantNow(portal, veraAgain, mona, 'cnc-07'));
    const monaAgain = await loginAs(portal.publicUrl, 'mona');
    const watch = await monaAgain.post(`/api/sessions/${session.id}/watch`, {});
    expect(watch.status).toBe(200);
    const view = await openTunnel(monaAgain, { ticket: watch.json<{ ticket: string }>().ticket });
    if (!view.ok) throw new Error('watch refused');
    await view.tunnel.firstFrame();

    expect((await monaAgain.post('/auth/logout', {})).status).toBeLessThan(400);
    await view.tunnel.closed;
    // The vendor's session is not the manager's: it goes on.
    const before = session.tunnel.outputBytes;
    session.tunnel.typeText('echo on\n');
    await waitFor(() => session.tunnel.outputBytes > before, { ...WAIT, what: 'the session to go on' });

    expect((await veraAgain.post('/auth/logout', {})).status).toBeLessThan(400);
    expect(await session.tunnel.errorMessage()).toBe('You signed out (or your sign-in expired); the session was ended.');
    expect(await sessionEnd(aude, session.id)).toMatchObject({ reason: 'signed_out' });
  });

  test('signing out at the identity provider (back-channel logout) ends the live session at once, saying so', async () => {
    const veraHere = await loginAs(portal.publicUrl, 'vera');
    const session = await openSession(veraHere, await grantNow(portal, veraHere, mona, 'cnc-07'));
    // RP-initiated logout at the dev IdP in this browser: the IdP posts a logout token to the portal.
    const confirm = await veraHere.get('/dev-idp/session/end', { accept: 'text/html' });
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(confirm.text)?.[1] ?? '';
    const action = /<form[^>]*action="([^"]+)"/.exec(confirm.text)?.[1] ?? '';
    expect((await veraHere.request('POST', action, { form: { xsrf, logout: 'yes' } })).status).toBeLessThan(400);
    // The IdP's own words, not the periodic re-check's: the sign-out event reached the broker.
    expect(await session.tunnel.errorMessage()).toBe('Your organisation ended your sign-in; the session was ended. Sign in again to continue.');
    expect(await sessionEnd(aude, session.id)).toMatchObject({ reason: 'signed_out' });
  });

  test('"terminate and revoke" ends the session and the grant; a plain terminate lets the vendor reopen', async () => {
    const grant = await grantNow(portal, vera, mona, 'cnc-07');
    const plain = await openSession(vera, grant);
    expect((await mona.post(`/api/sessions/${plain.id}/terminate`, { reason: 'lunch' })).status).toBe(204);
    expect(await plain.tunnel.errorMessage()).toBe('The session was terminated by Mona Manager: lunch');
    await plain.tunnel.closed;

    const again = await openSession(vera, grant);
    expect((await mona.post(`/api/sessions/${again.id}/terminate`, { reason: 'unsafe', revoke: true })).status).toBe(204);
    expect(await again.tunnel.errorMessage()).toBe('The session was terminated by Mona Manager, who also revoked your access: unsafe');
    await again.tunnel.closed;
    const reopen = await vera.post('/api/sessions', { requestId: grant });
    expect(reopen.status).toBe(403);
    expect(reopen.json<{ error: { code: string } }>().error.code).toBe('no_grant');
    const events = await auditEvents(aude, `session:${again.id}`);
    expect(events.find((e) => e.action === 'session.terminated')).toMatchObject({ reason: 'unsafe', details: { revoke: true } });
    expect((await readRequest(aude, grant)).state).toBe('revoked');
  });
});

describe('with the state store hung', () => {
  let services: PrivateServices;
  let portal: TestPortal;

  beforeAll(async () => {
    services = await privateServices('hung-redis', ['redis']);
    portal = await startTestPortal({
      AIRLOCK_REDIS_URL: services.services.redis?.url ?? '',
      AIRLOCK_RECORDING_SPOOL: path.join(services.stateDir, 'spool'),
      AIRLOCK_RECORDING_MIN_FREE_MB: '1',
      AIRLOCK_STORE_OUTAGE_GRACE_MS: '3000',
    });
    await seedDemoPlant(portal, { targets: true });
  });

  afterAll(async () => {
    services?.signal('SIGCONT');
    await portal?.close();
    await services?.close();
  });

  test('live sessions end after the grace with a message, and their end is audited once Redis is back', async () => {
    const [vera, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'mona', 'aude');
    const session = await openSession(vera, await grantNow(portal, vera, mona, 'cnc-07'));
    // Started (registered, audited) before the store hangs: what follows is the outage, not a failed start.
    await waitFor(async () => (await auditEvents(aude, `session:${session.id}`)).some((e) => e.action === 'session.started'), { ...WAIT, what: 'the session to start' });
    const [redisPid] = services.pids();
    if (redisPid === undefined) throw new Error('no redis pid');
    process.kill(redisPid, 'SIGSTOP');
    try {
      expect(await session.tunnel.errorMessage(20_000)).toMatch(/^Airlock lost contact with its state store/);
      await session.tunnel.closed;
    } finally {
      process.kill(redisPid, 'SIGCONT');
    }
    expect(await sessionEnd(aude, session.id)).toMatchObject({ action: 'session.ended', reason: 'store_unreachable' });
  });
});
