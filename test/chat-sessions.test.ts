// Across platforms and beyond approval: an approve/deny race from Slack and Mattermost at once
// (one decision, every copy updated); admin-enabled email matching; the broker's session events
// (Watch/Terminate, window ending with Extend for the vendor only, recording ready), published on
// the bus here as the broker will publish them.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pino from 'pino';
import { FakeSlack, type SlackMessage, type SlackUser } from '../dev/fakes/slack.ts';
import { FakeMattermost, type MattermostPost } from '../dev/fakes/mattermost.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import { ApprovalCore, nonceScope, type TerminateSession } from '../server/chat/core.ts';
import { ChatStore } from '../server/chat/store.ts';
import { AggregatedAudit } from '../server/audit/aggregated.ts';
import { parseChatConfig } from '../server/chat/config.ts';
import type { AirlockUser } from '../server/user.ts';
import type { DomainEvent } from '../server/events/bus.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { loginAs, type Browserless, loginAll } from './support/http.ts';
import { createRequest, readRequest, windowFromNow } from './support/workflow.ts';
import { enterLinkCode, linkCodeIn, mattermostPostIn, mattermostTrusting, SLACK, slackClickReply, slackTrusting, startChatPortal, startFakeMattermost, startFakeSlack, type ChatPortal } from './support/chat.ts';

const SLACK_CHANNEL = 'CSITEA';
const MM_CHANNEL = 'mmsitea';
const MONA: SlackUser = { id: 'UMONA', teamId: SLACK.teamId, name: 'mona', email: 'mona@plant-a.example' };
const OLGA_SLACK: SlackUser = { id: 'UOLGA', teamId: SLACK.teamId, name: 'olga', email: 'olga@plant-a.example' };
const VERA: SlackUser = { id: 'UVERA', teamId: SLACK.teamId, name: 'vera', email: 'vera@acme-automation.example' };
const OLGA_MM = 'mmolga';

let slack: FakeSlack;
let mm: FakeMattermost;
let chat: ChatPortal;
let requestUrl: string;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;

const about = (id: string) => (m: { blocks: unknown }) => JSON.stringify(m.blocks).includes(id);

async function slackCard(id: string, channel = SLACK_CHANNEL, text?: string): Promise<SlackMessage> {
  const find = () => slack.messagesIn(channel).find((m) => about(id)(m) && (text === undefined || JSON.stringify(m.blocks).includes(text)));
  await slack.server.until(() => find() !== undefined, `a Slack message about ${id}${text === undefined ? '' : ` saying ${text}`}`);
  return find() as SlackMessage;
}

const mmPost = (id: string): Promise<MattermostPost> => mattermostPostIn(mm, MM_CHANNEL, (p) => p.props['airlock_request'] === id, `a Mattermost post about ${id}`);

const slackReply = (message: SlackMessage, action: string, user: SlackUser): Promise<string> => slackClickReply(slack, requestUrl, message, action, user);

const requestState = (id: string): Promise<AccessRequest> => readRequest(aude, id);

function publish(event: Omit<DomainEvent, 'at' | 'actorId'> & { actorId?: string | null }): Promise<void> {
  return chat.portal.services.events.publish({ actorId: null, at: new Date().toISOString(), ...event });
}

beforeAll(async () => {
  slack = await startFakeSlack(MONA, OLGA_SLACK, VERA);
  mm = await startFakeMattermost({ [OLGA_MM]: 'olga' }, MM_CHANNEL);
  chat = await startChatPortal(
    {
      linking: { matchByEmail: true },
      slack: slackTrusting(slack),
      mattermost: mattermostTrusting(mm),
      sites: { 'site-a': { slack: { channel: SLACK_CHANNEL, directMessages: true }, mattermost: { channelId: MM_CHANNEL } } },
    },
    12,
  );
  requestUrl = `${chat.portal.publicUrl}${SLACK_INTERACTIONS_PATH}`;
  [vera, mona, aude] = await loginAll(chat.portal.publicUrl, 'vera', 'mona', 'aude');
  // Olga links Mattermost by code. Mona and Vera have signed in, which told chat their emails:
  // with email matching on, their first Slack click links them (Vera's own request is refused,
  // Mona's approval counts).
  const id = await createRequest(vera, { machineId: 'cnc-07' });
  const card = await slackCard(id);
  const olga = await loginAs(chat.portal.publicUrl, 'olga');
  await enterLinkCode(olga, linkCodeIn(String((await mm.click(await mmPost(id), 'approve', OLGA_MM)).json['ephemeral_text'])));
  expect(await slackReply(card, 'approve', VERA)).toContain('Nobody may decide their own request');
  expect(await slackReply(card, 'approve', MONA)).toContain('You approved');
});

afterAll(async () => {
  await chat?.close();
  await slack?.close();
  await mm?.close();
});

describe('two chats at once', () => {
  test('Approve in Slack and Deny in Mattermost at the same moment: one decision, the other refused, every copy updated', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const [card, post] = await Promise.all([slackCard(id), mmPost(id)]);
    await slackCard(id, MONA.id); // mona's direct message
    const seen = slack.ephemeralCount(MONA.id);
    const [slackRes, mmRes] = await Promise.all([slack.click(requestUrl, card, 'approve', MONA), mm.click(post, 'deny', OLGA_MM)]);
    expect([slackRes.status, mmRes.status]).toEqual([200, 200]);
    const answers = [await slack.ephemeralAfter(MONA.id, seen), String(mmRes.json['ephemeral_text'])];
    expect(answers.filter((t) => /You (approved|denied)/.test(t))).toHaveLength(1);
    expect(answers.filter((t) => t.includes('Nothing was changed'))).toHaveLength(1);

    const final = await requestState(id);
    expect(['approved', 'denied']).toContain(final.state);
    const shown = final.state === 'approved' ? 'Approved by Mona Manager' : 'Denied by Olga Manager';
    await slack.server.until(() => [...slack.messages.values()].filter(about(id)).every((m) => JSON.stringify(m.blocks).includes(shown)), 'every Slack copy');
    await mm.server.until(() => post.props.attachments?.[0]?.text?.includes(shown) === true, 'the Mattermost copy');
    expect([...slack.messages.values()].filter(about(id))).toHaveLength(2);
    const events = (await aude.get(`/api/audit?target=request:${id}&limit=50`)).json<{ events: AuditEvent[] }>().events;
    expect(events.filter((e) => e.action === 'request.approved' || e.action === 'request.denied')).toHaveLength(1);
    expect(events.filter((e) => e.action === 'chat.click_refused' && e.reason === 'already_decided')).toHaveLength(1);
  });
});

describe('email matching (enabled by the admin in this portal)', () => {
  test('a Slack user whose verified email is an Airlock user who has signed in is linked on first click', async () => {
    const olga = await loginAs(chat.portal.publicUrl, 'olga'); // the sign-in records her profile and email
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect(await slackReply(await slackCard(id), 'approve', OLGA_SLACK)).toContain('You approved');
    expect((await requestState(id)).decision?.by.id).toBe('dev:olga');
    const links = (await olga.get('/api/chat/links')).json<{ links: Array<{ platform: string; method: string }> }>().links;
    expect(links).toEqual(expect.arrayContaining([expect.objectContaining({ platform: 'slack', method: 'email' })]));
  });
});

describe('session notices', () => {
  let id: string;
  let request: AccessRequest;

  beforeAll(async () => {
    id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 3_600_000) });
    expect((await mona.post(`/api/requests/${id}/approve`, {})).status).toBe(200);
    request = await requestState(id);
  });

  const base = () => ({ requestId: id, state: 'active', siteId: 'site-a', requesterId: 'dev:vera' });

  test('"session started" has Watch, Terminate and Terminate-and-revoke; Terminate goes through the broker, which knows no such session here', async () => {
    await publish({ ...base(), type: 'session.started', sessionId: 'sess-1' });
    const message = await slackCard(id, SLACK_CHANNEL, 'Session started');
    expect(JSON.stringify(message.blocks)).toContain('/#/watch/sess-1');
    // Issue "Security (1)" item 11: a terminate alone can be undone by Reconnect; the second button also revokes.
    expect(FakeSlack.buttons(message)).toEqual(['terminate', 'terminate_revoke']);
    expect(await slackReply(message, 'terminate', MONA)).toContain('No such live session. Nothing was changed.');
  });

  test('"window ending" offers Extend to the vendor alone; a plant manager is told only the vendor may; the vendor files the extension', async () => {
    await publish({ ...base(), type: 'grant.ending_soon', minutesLeft: 10, sessionId: 'sess-1' });
    // Issue 13: the approvers' channel hears it on the session's own message, with no Extend there.
    const inChannel = await slackCard(id, SLACK_CHANNEL, 'Window ends in 10 min');
    expect(FakeSlack.buttons(inChannel)).not.toContain('extend');
    const toVendor = await slackCard(id, VERA.id, 'Window ends in 10 min');
    expect(await slackReply(toVendor, 'extend', MONA)).toContain('Only Vera Vendor');
    expect(await slackReply(toVendor, 'extend', VERA)).toContain('Extension until');
    const mine = (await vera.get('/api/requests?scope=mine')).json<{ requests: AccessRequest[] }>().requests;
    const extension = mine.find((r) => r.extendsRequestId === id);
    expect(extension).toMatchObject({ state: 'pending', windowStart: request.grant?.end, machine: { id: 'cnc-07' } });
    // The extension goes to the plant managers for approval like any request.
    await slackCard(extension?.id ?? '', SLACK_CHANNEL);
    // The button is spent.
    expect(await slackReply(toVendor, 'extend', VERA)).toMatch(/out of date/);
  });

  test('"session ended": Terminate disappears and the recording notice links auditors to it', async () => {
    const started = await slackCard(id, SLACK_CHANNEL, 'Session started');
    const before = structuredClone(started);
    await publish({ ...base(), type: 'session.ended', sessionId: 'sess-1', reason: 'window_ended' });
    await slackCard(id, SLACK_CHANNEL, 'recording ready');
    await slack.server.until(() => FakeSlack.buttons(started).length === 0, 'the session message updated');
    expect(JSON.stringify(started.blocks)).toContain('window_ended');
    expect(JSON.stringify((await slackCard(id, SLACK_CHANNEL, 'recording ready')).blocks)).toContain('/#/recordings?session=sess-1');
    expect(await slackReply(before, 'terminate', MONA)).toMatch(/out of date/);
  });

  test('one message per session in the approvers’ channel: started, ending soon and over update it in place; Extend reaches the vendor alone', async () => {
    const sessionId = 'sess-grouped';
    const aboutSession = (m: SlackMessage) => JSON.stringify(m.blocks).includes(sessionId);
    const vendorBefore = slack.messagesIn(VERA.id).length;
    await publish({ ...base(), type: 'session.started', sessionId });
    await slackCard(id, SLACK_CHANNEL, `/#/watch/${sessionId}`);
    await publish({ ...base(), type: 'grant.ending_soon', minutesLeft: 5, sessionId });
    await slack.server.until(() => slack.messagesIn(SLACK_CHANNEL).some((m) => aboutSession(m) && JSON.stringify(m.blocks).includes('Window ends in 5 min')), 'the session message to say the window ends');
    await publish({ ...base(), type: 'session.ended', sessionId, reason: 'window_ended' });
    await slack.server.until(() => slack.messagesIn(SLACK_CHANNEL).some((m) => aboutSession(m) && JSON.stringify(m.blocks).includes('recording ready')), 'the session message to say it is over');
    const inChannel = slack.messagesIn(SLACK_CHANNEL).filter(aboutSession);
    expect(inChannel).toHaveLength(1);
    expect(inChannel[0]?.updates).toBe(2);
    expect(JSON.stringify(inChannel[0]?.blocks)).toContain('the access window ended');
    // The vendor got Extend (once); the channel never did.
    await slack.server.until(() => slack.messagesIn(VERA.id).length > vendorBefore, 'the vendor’s Extend');
    expect(slack.messagesIn(VERA.id).slice(vendorBefore).filter((m) => FakeSlack.buttons(m).includes('extend'))).toHaveLength(1);
    expect(slack.messagesIn(SLACK_CHANNEL).some((m) => FakeSlack.buttons(m).includes('extend'))).toBe(false);
  });

  /** An approval core on this portal whose kill switch is the test's own recorder. */
  const coreWithKillSwitch = (terminateSession: TerminateSession): { core: ApprovalCore; store: ChatStore } => {
    const { services, redis } = chat.portal;
    const store = new ChatStore(redis);
    const core = new ApprovalCore({
      chat: parseChatConfig({}, { production: false }),
      store,
      requests: services.requests,
      inventory: services.inventory,
      audit: services.audit,
      refused: new AggregatedAudit({ audit: services.audit, log: pino({ level: 'silent' }), windowMs: 60_000 }),
      log: pino({ level: 'silent' }),
      adapters: new Map(),
      terminateSession,
      identity: services.identity,
    });
    return { core, store };
  };

  test('with the kill switch, the core terminates for a plant manager of the site only', async () => {
    const calls: Array<[string, string]> = [];
    const { core, store } = coreWithKillSwitch(async (user: AirlockUser, sessionId: string) => void calls.push([user.id, sessionId]));
    const nonce = await store.nonce(nonceScope('terminate', id, 'sess-2'), new Date(Date.now() + 60_000));
    const click = (userId: string) => ({ actor: { platform: 'slack' as const, workspace: SLACK.teamId, userId }, action: 'terminate' as const, requestId: id, nonce, sessionId: 'sess-2' });
    expect(await core.handle(click(VERA.id))).toMatchObject({ ok: false, code: 'not_site_approver' });
    expect(await core.handle(click(MONA.id))).toMatchObject({ ok: true, code: 'terminated' });
    expect(calls).toEqual([['dev:mona', 'sess-2']]);
  });

  test('"Terminate and revoke access" asks the broker to revoke too, and says so', async () => {
    const calls: Array<[string, string, boolean]> = [];
    const { core, store } = coreWithKillSwitch(async (user: AirlockUser, sessionId: string, opts: { revoke: boolean }) => void calls.push([user.id, sessionId, opts.revoke]));
    const nonce = await store.nonce(nonceScope('terminate_revoke', id, 'sess-3'), new Date(Date.now() + 60_000));
    const outcome = await core.handle({ actor: { platform: 'slack' as const, workspace: SLACK.teamId, userId: MONA.id }, action: 'terminate_revoke' as const, requestId: id, nonce, sessionId: 'sess-3' });
    expect(outcome).toMatchObject({ ok: true, code: 'terminated_and_revoked', text: expect.stringContaining('cannot be reopened') });
    expect(calls).toEqual([['dev:mona', 'sess-3', true]]);
  });
});
