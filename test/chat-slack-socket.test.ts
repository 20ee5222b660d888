// Slack Socket Mode against the fake Slack: the portal opens apps.connections.open with the
// app-level token and a WebSocket; clicks arrive as `interactive` envelopes, are acknowledged,
// and go through the same handling as the HTTP Request URL (allowlist, replay check, approval
// core). Refresh and drop of the connection; redelivered envelopes decide once.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { FakeSlack, type SlackMessage, type SlackUser } from '../dev/fakes/slack.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { auditEvents, createRequest, readRequest } from './support/workflow.ts';
import { allSlackCopiesShow, enterLinkCode, linkCodeIn, SLACK, slackCardIn, slackUser, startChatPortal, type ChatPortal } from './support/chat.ts';
import { waitFor } from './support/wait.ts';

const CHANNEL_A = 'CAPPROVERSA';
const APP_TOKEN = 'xapp-1-AAIRLOCK1-test-app-level-token';

const MONA = slackUser('mona');
const OLGA = slackUser('olga');

let slack: FakeSlack;
let chat: ChatPortal;
let vera: Browserless;
let aude: Browserless;

const requestState = (id: string): Promise<AccessRequest> => readRequest(aude, id);

/** Oldest first. */
const auditFor = async (id: string): Promise<AuditEvent[]> => (await auditEvents(aude, `request:${id}`)).reverse();

const cardIn = (channel: string, id: string): Promise<SlackMessage> => slackCardIn(slack, channel, id);
const allCopiesShow = (id: string, text: string): Promise<SlackMessage[]> => allSlackCopiesShow(slack, id, text);

/** Clicks over the socket; waits for the envelope's ack and the ephemeral reply. */
async function socketClickAndReply(message: SlackMessage, action: string, user: SlackUser): Promise<string> {
  const seen = slack.ephemeralCount(user.id);
  const envelope = slack.socketClick(message, action, user);
  await slack.untilAck(envelope.envelope_id);
  return slack.ephemeralAfter(user.id, seen);
}

/** The number of Socket Mode connections the fake has accepted so far. */
const connectionsMade = (): number => slack.server.calls.filter((c) => c.path === '/socket/connected').length;

beforeAll(async () => {
  slack = await FakeSlack.start({ ...SLACK, appToken: APP_TOKEN });
  chat = await startChatPortal(
    {
      // Socket Mode only: no signing secret, no Request URL.
      slack: { botToken: SLACK.botToken, socketMode: true, appToken: APP_TOKEN, allowedTeams: [SLACK.teamId], allowedApps: [SLACK.appId], apiUrl: slack.apiUrl },
      sites: { 'site-a': { slack: { channel: CHANNEL_A, directMessages: true } } },
    },
    15,
  );
  await slack.server.until((c) => c.path === '/socket/connected', 'the portal to connect over Socket Mode');
  vera = await loginAs(chat.portal.publicUrl, 'vera');
  aude = await loginAs(chat.portal.publicUrl, 'aude');
  const card = await cardIn(CHANNEL_A, await createRequest(vera, { machineId: 'cnc-07' }));
  for (const [user, name] of [[MONA, 'mona'], [OLGA, 'olga']] as const) {
    await enterLinkCode(await loginAs(chat.portal.publicUrl, name), linkCodeIn(await socketClickAndReply(card, 'approve', user)));
  }
});

afterAll(async () => {
  await chat?.close();
  await slack?.close();
});

describe('Slack Socket Mode', () => {
  test('the portal opened the connection with the app-level token, and serves no Request URL', async () => {
    const open = slack.server.calls.find((c) => c.path === '/api/apps.connections.open');
    expect(open?.headers['authorization']).toBe(`Bearer ${APP_TOKEN}`);
    expect(slack.socketConnections).toBe(1);
    const res = await fetch(`${chat.portal.publicUrl}${SLACK_INTERACTIONS_PATH}`, { method: 'POST', body: 'payload=%7B%7D', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(404);
  });

  test('a request filed through the API is approved by a click over the socket: acknowledged, decided, every copy updated', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const card = await cardIn(CHANNEL_A, id);
    const acksBefore = slack.acks.length;
    const reply = await socketClickAndReply(card, 'approve', MONA);
    expect(reply).toContain('You approved');
    expect(slack.acks.length).toBe(acksBefore + 1);
    expect(slack.acks.at(-1)).toEqual({ envelope_id: expect.any(String) });
    expect(await requestState(id)).toMatchObject({ state: 'approved', decision: { by: { id: 'dev:mona' } } });
    const copies = await allCopiesShow(id, 'Approved by Mona Manager');
    expect(copies.length).toBe(3); // channel + mona's and olga's DMs
    for (const copy of copies) {
      expect(copy.updates).toBeGreaterThan(0);
      expect(FakeSlack.buttons(copy)).toEqual([]);
    }
    const actions = (await auditFor(id)).map((e) => `${e.action}:${e.outcome}:${e.actor?.id ?? '-'}`);
    expect(actions).toEqual(expect.arrayContaining(['request.approved:ok:dev:mona', 'chat.action:ok:dev:mona']));
  });

  test.each([
    ['another workspace', { teamId: 'TELSEWHERE' }],
    ['another app', { appId: 'AOTHERAPP' }],
  ])('an envelope from %s is acknowledged, refused and audited; nothing changes', async (_what, opts) => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const card = await cardIn(CHANNEL_A, id);
    const replies = slack.ephemeralCount(MONA.id);
    const envelope = slack.socketClick(card, 'approve', MONA, opts);
    await slack.untilAck(envelope.envelope_id);
    const workspace = 'teamId' in opts ? opts.teamId : SLACK.teamId;
    await waitFor(
      async () =>
        (await aude.get('/api/audit?action=chat.click_refused&limit=50'))
          .json<{ events: AuditEvent[] }>()
          .events.some((e) => e.reason === 'workspace_not_allowed' && e.details['chatUser'] === MONA.id && e.details['workspace'] === workspace),
      { timeoutMs: 5_000, what: 'the refusal in the audit log' },
    );
    expect((await requestState(id)).state).toBe('pending');
    expect((await auditFor(id)).some((e) => e.action.startsWith('chat.') || e.action.startsWith('request.approve'))).toBe(false);
    expect(slack.ephemeralCount(MONA.id)).toBe(replies);
  });

  test('the same envelope delivered twice (a Slack retry) is acknowledged twice and decides once', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const card = await cardIn(CHANNEL_A, id);
    const seen = slack.ephemeralCount(OLGA.id);
    const envelope = slack.socketClick(card, 'deny', OLGA);
    expect(await slack.ephemeralAfter(OLGA.id, seen)).toContain('You denied');
    slack.redeliver(envelope);
    await slack.server.until(() => slack.acks.filter((a) => a.envelope_id === envelope.envelope_id).length === 2, 'the second ack');
    // A later click is handled after the retry's replay check (one Redis connection, in order).
    expect(await socketClickAndReply(card, 'approve', MONA)).toMatch(/out of date/);
    const events = await auditFor(id);
    expect(events.filter((e) => e.action === 'request.denied')).toHaveLength(1);
    expect(events.filter((e) => e.action === 'chat.action')).toHaveLength(1);
    expect(slack.ephemeralCount(OLGA.id)).toBe(seen + 1);
  });

  test('a refresh_requested disconnect leads to a fresh apps.connections.open; later clicks still work', async () => {
    const opened = slack.connectionsOpened;
    const connected = connectionsMade();
    slack.requestDisconnect('refresh_requested');
    await slack.server.until(() => connectionsMade() === connected + 1, 'a new connection');
    expect(slack.connectionsOpened).toBe(opened + 1);
    // The portal closes the old connection once the new one has said hello.
    await slack.server.until(() => slack.socketConnections === 1, 'the old connection to close');
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await socketClickAndReply(await cardIn(CHANNEL_A, id), 'approve', OLGA)).toContain('You approved');
    expect(await requestState(id)).toMatchObject({ state: 'approved', decision: { by: { id: 'dev:olga' } } });
  });

  test('a dropped connection is reconnected (with backoff) and clicks work again', async () => {
    const connected = connectionsMade();
    slack.dropConnections();
    await slack.server.until(() => connectionsMade() === connected + 1, 'the reconnection', 10_000);
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await socketClickAndReply(await cardIn(CHANNEL_A, id), 'deny', MONA)).toContain('You denied');
  });

  test("stopping the portal closes the socket (the plugin's stop)", async () => {
    expect(slack.socketConnections).toBe(1);
    await chat.close();
    await slack.server.until(() => slack.socketConnections === 0, 'the socket to close');
  });
});
