// Microsoft Teams approvals against the fake Bot Framework: Adaptive Cards with Action.Execute
// posted to the site's conversation and refreshed on decision; inbound tokens checked against
// the configured key set (signature, issuer, audience, expiry, serviceurl) and the tenant
// allowlist; replays; plain "Open in Airlock" cards where a site has only a webhook; and staff
// linked without a code from the Entra object id their sign-in carried.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { demoEntraObjectId } from '../server/auth/dev-idp.ts';
import { keys } from '../server/keys.ts';
import { ChatStore } from '../server/chat/store.ts';
import { FakeTeams, type TeamsCard, type TeamsUser } from '../dev/fakes/teams.ts';
import { TEAMS_MESSAGES_PATH } from '../server/chat/teams.ts';
import type { AccessRequest } from '../server/requests/schema.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, readRequest } from './support/workflow.ts';
import { enterLinkCode, linkCodeIn, startChatPortal, TEAMS, type ChatPortal } from './support/chat.ts';

const CONVERSATION_A = '19:approvers-site-a@thread.tacv2';

const MONA: TeamsUser = { aadObjectId: 'aad-mona', id: '29:mona', name: 'Mona Manager', tenantId: TEAMS.tenantId };
const OLGA: TeamsUser = { aadObjectId: 'aad-olga', id: '29:olga', name: 'Olga Manager', tenantId: TEAMS.tenantId };

let teams: FakeTeams;
let chat: ChatPortal;
let endpoint: string;
let vera: Browserless;
let aude: Browserless;

const requestState = (id: string): Promise<AccessRequest> => readRequest(aude, id);

async function cardAbout(id: string, conversation = CONVERSATION_A): Promise<TeamsCard> {
  const find = () => teams.cardsIn(conversation).find((c) => JSON.stringify(c.card).includes(id));
  await teams.server.until(() => find() !== undefined, `a card about ${id}`);
  return find() as TeamsCard;
}

const reply = (res: { json: Record<string, unknown> }): string => String(res.json['value']);

beforeAll(async () => {
  teams = await FakeTeams.start({ appId: TEAMS.appId, appPassword: TEAMS.appPassword });
  chat = await startChatPortal(
    {
      teams: {
        bot: {
          appId: TEAMS.appId,
          appPassword: TEAMS.appPassword,
          allowedTenants: [TEAMS.tenantId],
          jwksUrl: teams.jwksUrl,
          tokenUrl: teams.tokenUrl,
          allowedServiceUrls: [teams.serviceUrl],
        },
      },
      sites: {
        'site-a': { teams: { conversationId: CONVERSATION_A, serviceUrl: teams.serviceUrl, directMessages: true } },
        'site-b': { teams: { webhookUrl: teams.webhookUrl('site-b') } },
      },
    },
    10,
  );
  endpoint = `${chat.portal.publicUrl}${TEAMS_MESSAGES_PATH}`;
  vera = await loginAs(chat.portal.publicUrl, 'vera');
  aude = await loginAs(chat.portal.publicUrl, 'aude');
  const card = await cardAbout(await createRequest(vera, { machineId: 'cnc-07' }));
  for (const [user, name] of [[MONA, 'mona'], [OLGA, 'olga']] as const) {
    const res = await teams.invoke(endpoint, card, 'approve', user);
    await enterLinkCode(await loginAs(chat.portal.publicUrl, name), linkCodeIn(reply(res)));
  }
});

afterAll(async () => {
  await chat?.close();
  await teams?.close();
});

describe('Teams cards', () => {
  test('Approve from an Adaptive Card decides through the portal and refreshes every card (channel and direct messages)', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const card = await cardAbout(id);
    expect(card.card.actions.filter((a) => a.type === 'Action.Execute').map((a) => a.verb)).toEqual(['approve', 'deny']);
    // Linked approvers of the site also get it in a one-to-one chat.
    await cardAbout(id, `a:dm-${MONA.id}`);
    const res = await teams.invoke(endpoint, card, 'approve', OLGA);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ statusCode: 200, type: 'application/vnd.microsoft.activity.message' });
    expect(reply(res)).toContain('You approved');
    expect(await requestState(id)).toMatchObject({ state: 'approved', decision: { by: { id: 'dev:olga' } } });
    await teams.server.until(() => [...teams.cards.values()].filter((c) => JSON.stringify(c.card).includes(id)).every((c) => c.updates > 0 && JSON.stringify(c.card).includes('Approved by Olga Manager')), 'every card refreshed');
    for (const c of [...teams.cards.values()].filter((x) => JSON.stringify(x.card).includes(id))) {
      expect(c.card.actions.some((a) => a.type === 'Action.Execute')).toBe(false);
    }
  });

  test('a site with only an incoming webhook gets a plain card with "Open in Airlock" and no buttons', async () => {
    const id = await createRequest(await loginAs(chat.portal.publicUrl, 'victor'), { machineId: 'plc-gateway' });
    await teams.server.until(() => teams.webhookCards.some((c) => JSON.stringify(c).includes(id)), 'a webhook card');
    const card = teams.webhookCards.find((c) => JSON.stringify(c).includes(id));
    expect(card?.actions.map((a) => [a.type, a.title])).toEqual([['Action.OpenUrl', 'Open in Airlock']]);
  });
});

describe('inbound token and tenant checks', () => {
  let id: string;
  let card: TeamsCard;

  beforeAll(async () => {
    id = await createRequest(vera, { machineId: 'cnc-07' });
    card = await cardAbout(id);
  });

  test.each([
    ['a token signed by another key', { foreignKey: true }],
    ['a token for another bot (audience)', { claims: { aud: 'someone-else' } }],
    ['a token from another issuer', { claims: { iss: 'https://evil.example' } }],
    ['an expired token', { claims: { exp: 0, nbf: 0 } }],
    ['a token without expiry', { claims: { exp: undefined } }],
    ['a token naming another service URL', { claims: { serviceurl: 'https://smba.evil.example/teams/' } }],
    ['an activity pointing at another service URL than its token', { tamper: (a: Record<string, unknown>) => void (a['serviceUrl'] = 'https://smba.evil.example/teams/') }],
  ])('%s is refused with 401 and changes nothing', async (_what, opts) => {
    const res = await teams.invoke(endpoint, card, 'approve', MONA, opts);
    expect(res.status).toBe(401);
    expect((await requestState(id)).state).toBe('pending');
  });

  test('a valid click from another tenant is refused with 403 and audited', async () => {
    const res = await teams.invoke(endpoint, card, 'approve', MONA, { tenantId: 'tenant-elsewhere' });
    expect(res.status).toBe(403);
    expect((await requestState(id)).state).toBe('pending');
    const refused = (await aude.get('/api/audit?action=chat.click_refused&limit=20')).json<{ events: AuditEvent[] }>().events;
    expect(refused.some((e) => e.reason === 'tenant_not_allowed' && e.details['chatUser'] === MONA.aadObjectId)).toBe(true);
  });

  test('a replayed activity is answered without acting twice', async () => {
    const first = await teams.invoke(endpoint, card, 'deny', MONA, { activityId: 'f:replayed-activity' });
    expect(reply(first)).toContain('You denied');
    const again = await teams.invoke(endpoint, card, 'deny', MONA, { activityId: 'f:replayed-activity' });
    expect(again.status).toBe(200);
    expect(reply(again)).toContain('already handled');
    const events = (await aude.get(`/api/audit?target=request:${id}&limit=50`)).json<{ events: AuditEvent[] }>().events;
    expect(events.filter((e) => e.action === 'request.denied')).toHaveLength(1);
  });
});

describe('linking from the Entra sign-in', () => {
  test("a click from the aadObjectId that olga's sign-in carried (oid) is accepted without a link code", async () => {
    // Forget what chat knew of olga: the sign-in alone must tell it (profile and object id).
    const oid = demoEntraObjectId('olga');
    await chat.portal.redis.del([keys.chat.profile('dev:olga'), keys.chat.profileByEntraId(oid)]);
    await loginAs(chat.portal.publicUrl, 'olga');
    const olgaInTeams: TeamsUser = { aadObjectId: oid, id: '29:olga-entra', name: 'Olga M.', tenantId: TEAMS.tenantId };
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const res = await teams.invoke(endpoint, await cardAbout(id), 'approve', olgaInTeams);
    expect(res.status).toBe(200);
    expect(reply(res)).toContain('You approved');
    expect(await requestState(id)).toMatchObject({ state: 'approved', decision: { by: { id: 'dev:olga' } } });
    const linked = (await aude.get('/api/audit?action=chat.linked&limit=20')).json<{ events: AuditEvent[] }>().events;
    expect(linked.some((e) => e.actor?.id === 'dev:olga' && e.details['method'] === 'entra' && e.details['chatUser'] === oid)).toBe(true);
  });

  test('a click from an aadObjectId no sign-in carried still gets the link-code explanation', async () => {
    const stranger: TeamsUser = { aadObjectId: randomUUID(), id: '29:stranger', name: 'Stranger', tenantId: TEAMS.tenantId };
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    const res = await teams.invoke(endpoint, await cardAbout(id), 'approve', stranger);
    expect(reply(res)).toMatch(/not linked to Airlock.*code [0-9A-Z]{5}-[0-9A-Z]{5}.*Nothing was changed/);
    expect((await requestState(id)).state).toBe('pending');
  });

  test("another account claiming olga's object id does not take her Teams identity over", async () => {
    const oid = demoEntraObjectId('olga');
    const store = new ChatStore(chat.portal.redis);
    const impostor = { id: 'rogue-idp:olga', provider: 'rogue-idp', subject: 'olga', name: 'Not Olga', email: undefined, roles: ['vendor'] as const, sites: [], company: 'acme', entraObjectId: oid };
    expect(await store.saveProfile(impostor, 60_000, new Date())).toEqual({ entraConflict: true });
    expect(await store.userIdByEntraObjectId(oid)).toBe('dev:olga');
  });
});
