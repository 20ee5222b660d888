// Mattermost approvals against the fake Mattermost server: bot posts with interactive buttons
// whose context carries an HMAC over canonical JSON; unsigned, tampered and expired contexts;
// reordered keys (still valid); the clicker and the post re-read from the API before acting.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { FakeMattermost, type MattermostPost } from '../dev/fakes/mattermost.ts';
import { signContext } from '../server/chat/mattermost.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, readRequest } from './support/workflow.ts';
import { enterLinkCode, linkCodeIn, MATTERMOST, mattermostPostIn, mattermostTrusting, startChatPortal, startFakeMattermost, type ChatPortal } from './support/chat.ts';

const CHANNEL_A = 'approverssitea';
const MONA = 'usermona';
const OLGA = 'userolga';
const OUTSIDER = 'useroutsider';

let mm: FakeMattermost;
let chat: ChatPortal;
/** Signed in: the vendor who files, the auditor who reads the outcome. */
let vera: Browserless, aude: Browserless;

const requestState = (id: string): Promise<AccessRequest> => readRequest(aude, id);

const postAbout = (id: string, channel = CHANNEL_A): Promise<MattermostPost> => mattermostPostIn(mm, channel, (p) => p.props['airlock_request'] === id, `a post about ${id}`);

const contextOf = (post: MattermostPost, action: string): Record<string, unknown> =>
  (post.props.attachments ?? []).flatMap((a) => a.actions ?? []).find((a) => a.id === action)?.integration.context ?? {};

beforeAll(async () => {
  mm = await startFakeMattermost({ [MONA]: 'mona', [OLGA]: 'olga', [OUTSIDER]: 'outsider' }, CHANNEL_A, [MONA, OLGA]);
  chat = await startChatPortal(
    {
      mattermost: mattermostTrusting(mm),
      sites: { 'site-a': { mattermost: { channelId: CHANNEL_A } } },
    },
    11,
  );
  vera = await loginAs(chat.portal.publicUrl, 'vera');
  aude = await loginAs(chat.portal.publicUrl, 'aude');
  const post = await postAbout(await createRequest(vera, { machineId: 'cnc-07' }));
  for (const [user, name] of [[MONA, 'mona'], [OLGA, 'olga']] as const) {
    const res = await mm.click(post, 'approve', user);
    await enterLinkCode(await loginAs(chat.portal.publicUrl, name), linkCodeIn(String(res.json['ephemeral_text'])));
  }
});

afterAll(async () => {
  await chat?.close();
  await mm?.close();
});

describe('Mattermost buttons', () => {
  test('Approve decides through the portal, answers ephemerally, and the post is patched without buttons', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const post = await postAbout(id);
    expect(FakeMattermost.buttons(post)).toEqual(['approve', 'deny']); // a one-hour window: nothing to shorten
    const res = await mm.click(post, 'approve', MONA);
    expect(res.status).toBe(200);
    expect(String(res.json['ephemeral_text'])).toContain('You approved');
    expect(await requestState(id)).toMatchObject({ state: 'approved', decision: { by: { id: 'dev:mona' } } });
    await mm.server.until(() => post.updates > 0 && FakeMattermost.buttons(post).length === 0, 'the post patched');
    expect(post.props.attachments?.[0]?.text).toContain('Approved by Mona Manager');
  });

  test('the context is checked over canonical JSON: reordered keys still verify', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const post = await postAbout(id);
    const reversed = (c: Record<string, unknown>) => Object.fromEntries(Object.entries(c).reverse());
    const res = await mm.click(post, 'deny', OLGA, { tamper: reversed });
    expect(res.status).toBe(200);
    expect((await requestState(id)).state).toBe('denied');
  });
});

describe('adversarial callbacks', () => {
  let id: string;
  let post: MattermostPost;

  beforeAll(async () => {
    id = await createRequest(vera, { machineId: 'cnc-07' });
    post = await postAbout(id);
  });

  test.each([
    ['an unsigned context', (c: Record<string, unknown>) => ({ ...c, sig: undefined })],
    ['a context whose action was changed', (c: Record<string, unknown>) => ({ ...c, action: 'approve', nonce: c['nonce'] })],
    ['a context pointing at another request', (c: Record<string, unknown>) => ({ ...c, requestId: '00000000-0000-4000-8000-000000000000' })],
    ['a context with a later expiry', (c: Record<string, unknown>) => ({ ...c, exp: Number(c['exp']) + 3600 })],
    ['a context with an extra field', (c: Record<string, unknown>) => ({ ...c, admin: true })],
  ])('%s is refused with 401', async (_what, tamper) => {
    // "deny"'s context, edited: only the HMAC keeps it honest.
    const res = await mm.click(post, 'deny', MONA, { tamper });
    expect(res.status).toBe(401);
    expect((await requestState(id)).state).toBe('pending');
  });

  test('an expired context is answered with an explanation and changes nothing', async () => {
    const c = contextOf(post, 'deny');
    const expired = signContext(MATTERMOST.contextSecret, { requestId: id, action: 'deny', nonce: String(c['nonce']), exp: Math.floor(Date.now() / 1000) - 1 });
    const res = await mm.click(post, 'deny', MONA, { tamper: () => expired });
    expect(res.status).toBe(200);
    expect(String(res.json['ephemeral_text'])).toContain('expired');
    expect((await requestState(id)).state).toBe('pending');
  });

  test('a clicker who is not a member of the channel is refused after re-reading Mattermost, and audited', async () => {
    const res = await mm.click(post, 'approve', OUTSIDER);
    expect(res.status).toBe(403);
    expect((await requestState(id)).state).toBe('pending');
    const refused = (await aude.get('/api/audit?action=chat.click_refused&limit=20')).json<{ events: AuditEvent[] }>().events;
    expect(refused.some((e) => e.details['chatUser'] === OUTSIDER && e.reason === 'not_confirmed')).toBe(true);
  });

  test('a deleted user and a claimed post of another request are refused', async () => {
    mm.addUser({ id: 'usergone', username: 'gone', deleted: true });
    mm.channels.get(CHANNEL_A)?.members.add('usergone');
    expect((await mm.click(post, 'approve', 'usergone')).status).toBe(403);
    const other = await postAbout(await createRequest(vera, { machineId: 'cnc-07' }));
    expect((await mm.click(post, 'approve', MONA, { postId: other.id })).status).toBe(403);
    expect((await requestState(id)).state).toBe('pending');
  });

  test('a repeated click (same trigger) is answered without acting twice', async () => {
    const first = await mm.click(post, 'deny', MONA, { triggerId: 'trigger-1' });
    expect(String(first.json['ephemeral_text'])).toContain('You denied');
    const again = await mm.click(post, 'deny', MONA, { triggerId: 'trigger-1' });
    expect(String(again.json['ephemeral_text'])).toContain('already handled');
    const events = (await aude.get(`/api/audit?target=request:${id}&limit=50`)).json<{ events: AuditEvent[] }>().events;
    expect(events.filter((e) => e.action === 'request.denied')).toHaveLength(1);
  });
});

// A decided card has no buttons; its patched post used to lose the request it names (the
// request id came from the first button), so a repeated click after the patch was refused as
// "post_mismatch" instead of being recognised.
test('a post patched after the decision still names its request: a repeated click is recognised, not refused', async () => {
  const id = await createRequest(vera, { machineId: 'cnc-07' });
  const post = await postAbout(id);
  const before = structuredClone(post);
  expect(String((await mm.click(post, 'deny', MONA, { triggerId: 'trigger-patched' })).json['ephemeral_text'])).toContain('You denied');
  await mm.server.until(() => post.updates > 0 && FakeMattermost.buttons(post).length === 0, 'the post patched');
  expect(post.props['airlock_request']).toBe(id);
  const again = await mm.click(before, 'deny', MONA, { triggerId: 'trigger-patched' });
  expect(again.status).toBe(200);
  expect(String(again.json['ephemeral_text'])).toContain('already handled');
});
