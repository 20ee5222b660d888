// The demo's chat page in Chromium (issue 13): with the demo's chat fakes, a plant manager sees
// the approvers' channel as in Slack, Teams or Mattermost, clicks Approve, is given a link code
// (the private reply the fake now shows), links the account in Airlock and approves from chat;
// a Teams manager who signed in is linked by Entra id; each session is one message in the
// channel; Extend reaches the vendor's direct messages. With AIRLOCK_SHOTS_DIR set, the page is saved there.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { Page } from 'playwright-core';
import { startChatPortal, type ChatPortal } from './support/chat.ts';
import { Contexts, launchBrowser, shots as saveShots, signIn, type TestBrowser } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, readRequest, windowFromNow } from './support/workflow.ts';
import { startDemoChat, type DemoChat } from '../dev/fakes/demo.ts';


let demo: DemoChat;
let chat: ChatPortal;
let browser: TestBrowser;
const contexts = new Contexts(() => browser.browser);
let vera: Browserless;
let victor: Browserless;

const context = () => contexts.context();

async function chatPage(as: string): Promise<Page> {
  const p = await (await context()).newPage();
  await p.goto(`${demo.pageUrl}/?as=${as}`);
  return p;
}

/** The message about `requestId` in a conversation of the page (it reloads itself as messages change). */
const messageAbout = (p: Page, conversation: string, text: string) => p.getByTestId(conversation).locator('article', { hasText: text });

beforeAll(async () => {
  demo = await startDemoChat();
  chat = await startChatPortal(demo.config, 12);
  demo.setPortal(chat.portal.publicUrl);
  browser = await launchBrowser();
  vera = await loginAs(chat.portal.publicUrl, 'vera');
  victor = await loginAs(chat.portal.publicUrl, 'victor');
});

afterAll(async () => {
  await contexts.closeAll();
  await browser?.close();
  await chat?.close();
  await demo?.close();
});

test('Slack: Mona clicks Approve, gets a link code, links in Airlock, and approves from the channel', async () => {
  const id = await createRequest(vera, { machineId: 'cnc-07', reason: 'Replace the spindle encoder from chat' });
  const page = await chatPage('mona');
  const card = messageAbout(page, 'slack-channel-CAPPROVERSA', 'Replace the spindle encoder from chat');
  await card.waitFor({ timeout: 10_000 });
  expect(await card.textContent()).toContain('Vera Vendor (Acme Automation)');
  expect(await card.textContent()).toMatch(/CES?T/);
  await card.getByTestId('click-slack-approve').click();
  const reply = messageAbout(page, 'slack-channel-CAPPROVERSA', 'Replace the spindle encoder from chat').getByTestId('reply-slack');
  await reply.waitFor();
  const code = await reply.getAttribute('data-code');
  expect(code).toMatch(/^[0-9A-Z]{5}-[0-9A-Z]{5}$/);
  expect(await reply.textContent()).toContain('Only visible to you');
  await saveShots(page, 'chat-page-link-code', { fullPage: true });
  expect((await readRequest(vera, id)).state).toBe('pending');

  // In Airlock, "Chat accounts" takes the code.
  const airlock = await signIn(await context(), chat.portal.publicUrl, 'mona');
  await airlock.getByTestId('nav-chat').click();
  await airlock.getByTestId('chat-code').fill(code ?? '');
  await airlock.getByTestId('chat-link').click();
  await airlock.getByTestId('chat-links').filter({ hasText: 'slack' }).waitFor();

  await page.reload();
  await messageAbout(page, 'slack-channel-CAPPROVERSA', 'Replace the spindle encoder from chat').getByTestId('click-slack-approve').click();
  await messageAbout(page, 'slack-channel-CAPPROVERSA', 'Replace the spindle encoder from chat').getByTestId('reply-slack').filter({ hasText: 'You approved' }).waitFor();
  expect(await readRequest(vera, id)).toMatchObject({ state: 'approved', decision: { by: { name: 'Mona Manager' } } });
  // Every copy is updated: the card in the channel now says who approved, without buttons.
  await messageAbout(page, 'slack-channel-CAPPROVERSA', 'Approved by Mona Manager').waitFor({ timeout: 10_000 });
  expect(await messageAbout(page, 'slack-channel-CAPPROVERSA', 'Approved by Mona Manager').getByTestId('click-slack-approve').count()).toBe(0);
});

test('Teams: Bruno, signed in to Airlock, approves from the channel with no code; the session is one message; Extend goes to the vendor', async () => {
  await loginAs(chat.portal.publicUrl, 'bruno'); // the sign-in records his Entra object id
  const id = await createRequest(victor, { machineId: 'plc-gateway', ...windowFromNow(60_000, 30 * 60_000), reason: 'Update the PLC gateway firmware' });
  const page = await chatPage('bruno');
  const card = messageAbout(page, 'teams-channel', 'Update the PLC gateway firmware');
  await card.waitFor({ timeout: 10_000 });
  await card.getByTestId('click-teams-approve').click();
  await messageAbout(page, 'teams-channel', 'Update the PLC gateway firmware').getByTestId('reply-teams').filter({ hasText: 'You approved' }).waitFor();
  expect((await readRequest(victor, id)).state).toBe('approved');

  // The broker's session events, as it publishes them: one message per session in the channel.
  const publish = (type: 'session.started' | 'grant.ending_soon' | 'session.ended', extra: Record<string, unknown> = {}) =>
    chat.portal.services.events.publish({ type, requestId: id, state: 'active', siteId: 'site-b', requesterId: 'dev:victor', actorId: null, at: new Date().toISOString(), sessionId: 'sess-demo', ...extra });
  await publish('session.started');
  await messageAbout(page, 'teams-channel', 'Session started').waitFor({ timeout: 10_000 });
  await publish('grant.ending_soon', { minutesLeft: 10 });
  await messageAbout(page, 'teams-channel', 'Window ends in 10 min').waitFor({ timeout: 10_000 });
  expect(await page.getByTestId('teams-channel').getByTestId('click-teams-extend').count()).toBe(0);
  await publish('session.ended', { reason: 'window_ended' });
  await messageAbout(page, 'teams-channel', 'recording ready').waitFor({ timeout: 10_000 });
  expect(await messageAbout(page, 'teams-channel', 'PLC gateway').count()).toBe(2); // the request's card and the session's one message
  await saveShots(page, 'chat-page-teams', { fullPage: true });
});

test('Mattermost: Olga links by code too; the vendor, once linked, gets Extend in a direct message', async () => {
  const id = await createRequest(vera, { machineId: 'press-hmi', reason: 'Look at the HMI alarm log from chat' });
  const olga = await chatPage('olga');
  const post = messageAbout(olga, 'mattermost-channel-approvers', 'HMI alarm log');
  await post.waitFor({ timeout: 10_000 });
  await post.getByTestId('click-mattermost-deny').click();
  const reply = messageAbout(olga, 'mattermost-channel-approvers', 'HMI alarm log').getByTestId('reply-mattermost');
  await reply.waitFor();
  const code = (await reply.getAttribute('data-code')) ?? '';
  const olgaAirlock = await loginAs(chat.portal.publicUrl, 'olga');
  expect((await olgaAirlock.post('/api/chat/links', { code })).status).toBe(201);
  await olga.reload();
  await messageAbout(olga, 'mattermost-channel-approvers', 'HMI alarm log').getByTestId('click-mattermost-deny').click();
  await messageAbout(olga, 'mattermost-channel-approvers', 'HMI alarm log').getByTestId('reply-mattermost').filter({ hasText: 'You denied' }).waitFor();
  expect((await readRequest(vera, id)).state).toBe('denied');

  // Vera links her Slack account (a click on any card tells her how), and her window ending
  // soon reaches her alone, in a direct message, with Extend.
  const grant = await createRequest(vera, { machineId: 'cnc-07', ...windowFromNow(60_000, 30 * 60_000), reason: 'Tune the feed rate' });
  const mona = await loginAs(chat.portal.publicUrl, 'mona');
  expect((await mona.post(`/api/requests/${grant}/approve`, {})).status).toBe(200);
  await createRequest(victor, { machineId: 'cnc-07', reason: 'Victor checks the coolant pump' });
  const veraPage = await chatPage('vera');
  const pending = messageAbout(veraPage, 'slack-channel-CAPPROVERSA', 'Victor checks the coolant pump');
  await pending.waitFor({ timeout: 10_000 });
  await pending.getByTestId('click-slack-approve').click();
  const veraCode = (await messageAbout(veraPage, 'slack-channel-CAPPROVERSA', 'Victor checks the coolant pump').getByTestId('reply-slack').getAttribute('data-code')) ?? '';
  expect((await vera.post('/api/chat/links', { code: veraCode })).status).toBe(201);
  await chat.portal.services.events.publish({ type: 'grant.ending_soon', requestId: grant, state: 'active', siteId: 'site-a', requesterId: 'dev:vera', actorId: null, at: new Date().toISOString(), sessionId: 'sess-vera', minutesLeft: 10 });
  const extend = messageAbout(veraPage, 'slack-dm', 'Window ends in 10 min');
  await extend.waitFor({ timeout: 10_000 });
  await saveShots(veraPage, 'chat-page-vendor-extend', { fullPage: true });
  await extend.getByTestId('click-slack-extend').click();
  await messageAbout(veraPage, 'slack-dm', 'Window ends in 10 min').getByTestId('reply-slack').filter({ hasText: 'Extension until' }).waitFor();
  const mine = (await vera.get('/api/requests?scope=mine')).json<{ requests: Array<{ extendsRequestId: string | null; state: string }> }>().requests;
  expect(mine.find((r) => r.extendsRequestId === grant)?.state).toBe('pending');
  // The approvers' channel never offered Extend.
  expect(await (await chatPage('mona')).getByTestId('slack-channel-CAPPROVERSA').getByTestId('click-slack-extend').count()).toBe(0);
});
