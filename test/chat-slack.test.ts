// Slack approvals against the fake Slack Web API: cards per site, linking, decisions through the
// same rules as the web UI, every copy updated, and the adversarial list of the issue (forged and
// stale signatures, replays, foreign workspaces and apps, unlinked and unauthorised clickers,
// stale buttons, web-only machines). End to end: filed via the API, approved in Slack, granted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { FakeSlack, type SlackMessage, type SlackUser } from '../dev/fakes/slack.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { loginAs, type Browserless, loginAll } from './support/http.ts';
import { auditEvents, createRequest, readRequest, windowFromNow } from './support/workflow.ts';
import { allSlackCopiesShow, enterLinkCode, linkCodeIn, SLACK, slackCardIn, slackTrusting, slackUser, startChatPortal, startFakeSlack, type ChatPortal } from './support/chat.ts';

const CHANNEL_A = 'CAPPROVERSA';
const CHANNEL_B = 'CAPPROVERSB';

const MONA = slackUser('mona');
const OLGA = slackUser('olga');
const BRUNO = slackUser('bruno');
const VERA = slackUser('vera');
const STRANGER = slackUser('stranger');

let slack: FakeSlack;
let chat: ChatPortal;
let requestUrl: string;
let vera: Browserless;
let mona: Browserless;
let olga: Browserless;
let bruno: Browserless;
let aude: Browserless;

const requestState = (id: string): Promise<AccessRequest> => readRequest(aude, id);

/** Oldest first. */
const auditFor = async (id: string): Promise<AuditEvent[]> => (await auditEvents(aude, `request:${id}`)).reverse();

const cardIn = (channel: string, id: string): Promise<SlackMessage> => slackCardIn(slack, channel, id);
const allCopiesShow = (id: string, text: string): Promise<SlackMessage[]> => allSlackCopiesShow(slack, id, text);

async function clickAndReply(message: SlackMessage, action: string, user: SlackUser): Promise<{ status: number; reply: string }> {
  const seen = slack.ephemeralCount(user.id);
  const res = await slack.click(requestUrl, message, action, user);
  return { status: res.status, reply: res.status === 200 ? await slack.ephemeralAfter(user.id, seen) : res.text };
}

/** Links a Slack user to an Airlock account: click while unlinked, get the code, enter it in Airlock. */
async function link(user: SlackUser, agent: Browserless, message: SlackMessage): Promise<void> {
  const { reply } = await clickAndReply(message, 'approve', user);
  await enterLinkCode(agent, linkCodeIn(reply));
}

beforeAll(async () => {
  slack = await startFakeSlack(MONA, OLGA, BRUNO, VERA, STRANGER);
  chat = await startChatPortal(
    {
      slack: slackTrusting(slack),
      sites: { 'site-a': { slack: { channel: CHANNEL_A, directMessages: true } }, 'site-b': { slack: { channel: CHANNEL_B } } },
    },
    9,
    { AIRLOCK_SWEEP_INTERVAL_MS: '200' },
  );
  requestUrl = `${chat.portal.publicUrl}${SLACK_INTERACTIONS_PATH}`;
  [vera, mona, olga, bruno, aude] = await loginAll(chat.portal.publicUrl, 'vera', 'mona', 'olga', 'bruno', 'aude');
  // Link mona, olga, bruno and vera once, through a card of a first request.
  const first = await createRequest(vera, { machineId: 'cnc-07' });
  const card = await cardIn(CHANNEL_A, first);
  for (const [user, agent] of [[MONA, mona], [OLGA, olga], [BRUNO, bruno], [VERA, vera]] as const) await link(user, agent, card);
});

afterAll(async () => {
  await chat?.close();
  await slack?.close();
});

describe('cards and routing', () => {
  test("a request is posted to its site's channel and to each linked approver of the site, with Approve, Shorten and Deny", async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 2 * 3_600_000) });
    const card = await cardIn(CHANNEL_A, id);
    expect(FakeSlack.buttons(card)).toEqual(['approve', 'shorten', 'deny']);
    // Names, not ids (issue 13): the company as the plant knows it.
    expect(JSON.stringify(card.blocks)).toContain('Vera Vendor (Acme Automation)');
    await cardIn(MONA.id, id);
    await cardIn(OLGA.id, id);
    // Not to bruno (site B), not to the vendor, not to site B's channel.
    expect(slack.messagesIn(BRUNO.id).some((m) => JSON.stringify(m.blocks).includes(id))).toBe(false);
    expect(slack.messagesIn(VERA.id).some((m) => JSON.stringify(m.blocks).includes(id))).toBe(false);
    expect(slack.messagesIn(CHANNEL_B).some((m) => JSON.stringify(m.blocks).includes(id))).toBe(false);
  });

  test('a web-only machine gets "Review in Airlock" only, and a forged Approve on it changes nothing', async () => {
    const id = await createRequest(vera, { machineId: 'scada-historian' });
    const card = await cardIn(CHANNEL_A, id);
    expect(FakeSlack.buttons(card)).toEqual([]);
    expect(JSON.stringify(card.blocks)).toContain('Review in Airlock');
    // A button value copied from another card cannot carry this request's nonce: there is none.
    const other = await cardIn(CHANNEL_A, await createRequest(vera, { machineId: 'cnc-07' }));
    const forged = structuredClone(other);
    for (const e of forged.blocks.flatMap((b) => b.elements ?? [])) if (e.value !== undefined) e.value = e.value.replace(/"r":"[^"]+"/, `"r":"${id}"`);
    const { status, reply } = await clickAndReply(forged, 'approve', MONA);
    expect(status).toBe(200);
    expect(reply).toMatch(/out of date|Nothing was changed/);
    expect((await requestState(id)).state).toBe('pending');
  });
});

describe('decisions from Slack', () => {
  test('end to end: filed through the API, approved in Slack, the grant exists and every copy is updated', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(1_000, 3_600_000) });
    const card = await cardIn(CHANNEL_A, id);
    const { status, reply } = await clickAndReply(card, 'approve', MONA);
    expect(status).toBe(200);
    expect(reply).toContain('You approved');
    const request = await requestState(id);
    expect(request).toMatchObject({ state: 'approved', decision: { by: { id: 'dev:mona' } } });
    const copies = await allCopiesShow(id, 'Approved by Mona Manager');
    expect(copies.length).toBe(3); // channel + mona's and olga's DMs
    for (const copy of copies) expect(FakeSlack.buttons(copy)).toEqual([]);
    const grant = await chat.portal.services.requests.grantFor('dev:vera', 'cnc-07', new Date(request.windowStart));
    expect(grant).toMatchObject({ requestId: id, machineId: 'cnc-07' });
    const actions = (await auditFor(id)).map((e) => `${e.action}:${e.outcome}:${e.actor?.id ?? '-'}`);
    expect(actions).toEqual(expect.arrayContaining(['request.approved:ok:dev:mona', 'chat.action:ok:dev:mona']));
  });

  test('Shorten approves the first hour only; Deny denies', async () => {
    const longId = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 3 * 3_600_000) });
    await clickAndReply(await cardIn(CHANNEL_A, longId), 'shorten', OLGA);
    const shortened = await requestState(longId);
    expect(shortened.state).toBe('approved');
    expect(Date.parse(shortened.grant?.end ?? '') - Date.parse(shortened.windowStart)).toBe(3_600_000);

    const deniedId = await createRequest(vera, { machineId: 'cnc-07' });
    const { reply } = await clickAndReply(await cardIn(CHANNEL_A, deniedId), 'deny', MONA);
    expect(reply).toContain('You denied');
    expect(await requestState(deniedId)).toMatchObject({ state: 'denied', decision: { by: { id: 'dev:mona' } } });
    await allCopiesShow(deniedId, 'Denied by Mona Manager');
  });
});

describe('adversarial callbacks', () => {
  let id: string;
  let card: SlackMessage;

  beforeAll(async () => {
    id = await createRequest(vera, { machineId: 'cnc-07' });
    card = await cardIn(CHANNEL_A, id);
  });

  const nowSeconds = () => Math.floor(Date.now() / 1000);
  test.each([
    ['a forged signature', () => ({ signingSecret: 'not-the-signing-secret-at-all' }), 'bad_signature'],
    ['a stale timestamp (301 s old)', () => ({ timestamp: nowSeconds() - 301 }), 'stale_timestamp'],
    ['a future timestamp (301 s ahead)', () => ({ timestamp: nowSeconds() + 301 }), 'stale_timestamp'],
  ])('%s is refused with 401 and changes nothing', async (_what, opts, code) => {
    const res = await slack.click(requestUrl, card, 'approve', MONA, opts());
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({ error: { code, message: expect.any(String) } });
    expect((await requestState(id)).state).toBe('pending');
  });

  test('a body changed after signing is refused', async () => {
    const signed = (await slack.click(requestUrl, card, 'approve', STRANGER)).signed;
    const res = await slack.click(requestUrl, card, 'approve', MONA, { replay: { ...signed, body: signed.body.replace('USTRANGER', 'UMONA') } });
    expect(res.status).toBe(401);
    expect((await requestState(id)).state).toBe('pending');
  });

  test.each([
    ['another workspace', { teamId: 'TELSEWHERE' }],
    ['another app', { appId: 'AOTHERAPP' }],
  ])('a correctly signed click from %s is refused with 403 and audited', async (_what, opts) => {
    const res = await slack.click(requestUrl, card, 'approve', MONA, opts);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).error.code).toBe('workspace_not_allowed');
    expect((await requestState(id)).state).toBe('pending');
    const refused = (await aude.get('/api/audit?action=chat.click_refused&limit=50')).json<{ events: AuditEvent[] }>().events;
    expect(refused.some((e) => e.reason === 'workspace_not_allowed' && e.details['chatUser'] === MONA.id)).toBe(true);
  });

  test('an unlinked clicker gets an explanation with a code, and nothing changes', async () => {
    const { status, reply } = await clickAndReply(card, 'approve', STRANGER);
    expect(status).toBe(200);
    expect(reply).toMatch(/not linked to Airlock.*code [0-9A-Z]{5}-[0-9A-Z]{5}.*Nothing was changed/);
    expect((await requestState(id)).state).toBe('pending');
    expect((await auditFor(id)).some((e) => e.action === 'chat.click_refused' && e.reason === 'not_linked' && e.actor === null)).toBe(true);
  });

  test('an approver of another site is refused by the same rule as in the web UI', async () => {
    const { reply } = await clickAndReply(card, 'approve', BRUNO);
    expect(reply).toContain('Nothing was changed');
    expect((await requestState(id)).state).toBe('pending');
    const events = await auditFor(id);
    expect(events.some((e) => e.action === 'chat.click_refused' && e.actor?.id === 'dev:bruno')).toBe(true);
    expect(events.some((e) => e.action === 'request.approve' && e.outcome === 'refused' && e.actor?.id === 'dev:bruno')).toBe(true);
  });

  test('the requester clicking Approve is refused (own_request)', async () => {
    const { reply } = await clickAndReply(card, 'approve', VERA);
    expect(reply).toContain('Nobody may decide their own request');
    expect((await requestState(id)).state).toBe('pending');
    expect((await auditFor(id)).some((e) => e.action === 'chat.click_refused' && e.reason === 'own_request' && e.actor?.id === 'dev:vera')).toBe(true);
  });

  test('a replayed callback is acknowledged and not acted on twice', async () => {
    const replayId = await createRequest(vera, { machineId: 'cnc-07' });
    const replayCard = await cardIn(CHANNEL_A, replayId);
    const first = await slack.click(requestUrl, replayCard, 'deny', MONA);
    expect(first.status).toBe(200);
    await allCopiesShow(replayId, 'Denied by Mona Manager');
    const again = await slack.click(requestUrl, replayCard, 'deny', MONA, { replay: first.signed });
    expect(again.status).toBe(200);
    const events = await auditFor(replayId);
    expect(events.filter((e) => e.action === 'request.denied')).toHaveLength(1);
    expect(events.filter((e) => e.action.startsWith('chat.'))).toHaveLength(1);
  });

  test('a stale button after a decision in the web UI changes nothing', async () => {
    const webId = await createRequest(vera, { machineId: 'cnc-07' });
    const before = structuredClone(await cardIn(CHANNEL_A, webId));
    expect((await mona.post(`/api/requests/${webId}/deny`, { comment: 'not today' })).status).toBe(200);
    await allCopiesShow(webId, 'Denied by Mona Manager');
    const { reply } = await clickAndReply(before, 'approve', OLGA);
    expect(reply).toMatch(/out of date/);
    expect(await requestState(webId)).toMatchObject({ state: 'denied', decision: { by: { id: 'dev:mona' } } });
    expect((await auditFor(webId)).some((e) => e.action === 'chat.click_refused' && e.reason === 'stale_button' && e.actor?.id === 'dev:olga')).toBe(true);
  });

  test('a stale button after expiry changes nothing', async () => {
    // Pending until its window's end (issue 13): a short window, so it expires soon.
    const soonId = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(1_200, 1_000) });
    const before = structuredClone(await cardIn(CHANNEL_A, soonId));
    await allCopiesShow(soonId, 'Expired');
    const { reply } = await clickAndReply(before, 'approve', MONA);
    expect(reply).toMatch(/out of date/);
    expect((await requestState(soonId)).state).toBe('expired');
  });
});

describe('linking in the portal', () => {
  test('a code works once; a wrong code is refused and audited; unlinking stops decisions', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const card = await cardIn(CHANNEL_A, id);
    const carl: SlackUser = { id: 'UCARL', teamId: SLACK.teamId, name: 'carl' };
    const code = linkCodeIn((await clickAndReply(card, 'approve', carl)).reply);
    const adam = await loginAs(chat.portal.publicUrl, 'adam');
    expect((await adam.post('/api/chat/links', { code })).status).toBe(201);
    const reuse = await mona.post('/api/chat/links', { code });
    expect(reuse.status).toBe(400);
    expect(reuse.json<{ error: { code: string } }>().error.code).toBe('invalid_link_code');
    const refused = (await aude.get('/api/audit?action=chat.link&limit=10')).json<{ events: AuditEvent[] }>().events;
    expect(refused.some((e) => e.actor?.id === 'dev:mona' && e.reason === 'invalid_link_code')).toBe(true);

    const links = (await adam.get('/api/chat/links')).json<{ links: Array<{ id: string; platform: string; chatUser: string }> }>().links;
    expect(links).toEqual([expect.objectContaining({ platform: 'slack', chatUser: 'carl' })]);
    expect((await mona.request('DELETE', `/api/chat/links/${links[0]?.id ?? ''}`)).status).toBe(404); // not mona's
    expect((await adam.request('DELETE', `/api/chat/links/${links[0]?.id ?? ''}`)).status).toBe(204);
    const { reply } = await clickAndReply(card, 'approve', carl);
    expect(reply).toContain('not linked');
    expect((await requestState(id)).state).toBe('pending');
  });
});
