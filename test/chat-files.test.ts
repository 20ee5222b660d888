// Issue 14, file airlock in chat, on real parts (clamd, guacd, sshd with SFTP) and the three
// platform fakes (signed as the platforms sign): a file waiting for approval is posted to the
// site's Slack, Teams and Mattermost with its name, size, hash and scan result and Release / Deny;
// a click decides through the airlock's own rules (a plant manager of the site, never the vendor),
// every copy is updated, a stale or replayed click changes nothing; a file blocked as infected is
// posted too.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { FakeSlack, type SlackMessage, type SlackUser } from '../dev/fakes/slack.ts';
import { FakeTeams, type TeamsCard, type TeamsUser } from '../dev/fakes/teams.ts';
import { FakeMattermost, type MattermostPost } from '../dev/fakes/mattermost.ts';
import { demoEntraObjectId } from '../server/auth/dev-idp.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import { TEAMS_MESSAGES_PATH } from '../server/chat/teams.ts';
import type { FileView } from '../sessions/files/airlock.ts';
import type { AuditEvent } from '../server/audit/schema.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { grantNow, seedDemoPlant } from './support/workflow.ts';
import { openSession, type Tunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import { testServices } from './support/services.ts';
import { enterLinkCode, linkCodeIn, mattermostPostIn, mattermostTrusting, SLACK, slackClickReply, slackTrusting, startChatPortal, startFakeMattermost, startFakeSlack, TEAMS, teamsTrusting, type ChatPortal } from './support/chat.ts';

const DB = 9;
const WAIT = { timeoutMs: 30_000 };
const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
const SLACK_CHANNEL = 'CFILESA';
const MM_CHANNEL = 'mmfilesa';
const CONVERSATION = '19:files-site-a@thread.tacv2';
const MONA: SlackUser = { id: 'UMONA', teamId: SLACK.teamId, name: 'mona', email: 'mona@plant-a.example' };
const VERA: SlackUser = { id: 'UVERA', teamId: SLACK.teamId, name: 'vera', email: 'vera@acme-automation.example' };
const BRUNO: SlackUser = { id: 'UBRUNO', teamId: SLACK.teamId, name: 'bruno', email: 'bruno@plant-b.example' };
const OLGA_TEAMS: TeamsUser = { aadObjectId: demoEntraObjectId('olga'), id: '29:olga', name: 'Olga Manager', tenantId: TEAMS.tenantId };
const MONA_MM = 'mmmona';

let slack: FakeSlack;
let teams: FakeTeams;
let mm: FakeMattermost;
let chat: ChatPortal;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;
let session: { id: string; tunnel: Tunnel };
let slackUrl: string;
let teamsUrl: string;

const sha256 = (data: string): string => createHash('sha256').update(data).digest('hex');

async function upload(name: string, body: string): Promise<FileView> {
  const res = await fetch(new URL(`/api/sessions/${session.id}/files?name=${encodeURIComponent(name)}`, vera.base), {
    method: 'PUT',
    headers: { cookie: vera.cookieHeader(), origin: new URL(vera.base).origin, 'content-type': 'application/octet-stream' },
    body: Buffer.from(body),
  });
  const json = (await res.json()) as { file?: FileView };
  if (res.status !== 201 || json.file === undefined) throw new Error(`upload failed (${res.status}): ${JSON.stringify(json)}`);
  return json.file;
}

const fileState = async (id: string): Promise<FileView['state'] | undefined> => (await vera.get(`/api/sessions/${session.id}/files`)).json<{ files: FileView[] }>().files.find((f) => f.id === id)?.state;

async function slackMessage(name: string, channel = SLACK_CHANNEL): Promise<SlackMessage> {
  const find = () => slack.messagesIn(channel).find((m) => JSON.stringify(m.blocks).includes(name));
  await slack.server.until(() => find() !== undefined, `a Slack message about ${name}`);
  return find() as SlackMessage;
}

async function teamsCard(name: string): Promise<TeamsCard> {
  const find = () => teams.cardsIn(CONVERSATION).find((c) => JSON.stringify(c.card).includes(name));
  await teams.server.until(() => find() !== undefined, `a Teams card about ${name}`);
  return find() as TeamsCard;
}

const mmPost = (name: string): Promise<MattermostPost> =>
  mattermostPostIn(mm, MM_CHANNEL, (p) => JSON.stringify(p.props.attachments ?? []).includes(name), `a Mattermost post about ${name}`);

const slackReply = (message: SlackMessage, action: string, user: SlackUser): Promise<string> => slackClickReply(slack, slackUrl, message, action, user);

/** Every copy of the file's message (Slack, Teams, Mattermost) says `text` and has no buttons left. */
async function everyCopyShows(name: string, text: string): Promise<void> {
  const slackCopies = () => [...slack.messages.values()].filter((m) => JSON.stringify(m.blocks).includes(name));
  await slack.server.until(() => slackCopies().length > 0 && slackCopies().every((m) => JSON.stringify(m.blocks).includes(text) && FakeSlack.buttons(m).length === 0), `every Slack copy to say ${text}`);
  await teams.server.until(() => {
    const c = teams.cardsIn(CONVERSATION).find((x) => JSON.stringify(x.card).includes(name));
    return c !== undefined && JSON.stringify(c.card).includes(text) && !c.card.actions.some((a) => a.type === 'Action.Execute');
  }, `the Teams card to say ${text}`);
  await mm.server.until(() => {
    const p = mm.postsIn(MM_CHANNEL).find((x) => JSON.stringify(x.props.attachments ?? []).includes(name));
    return p !== undefined && JSON.stringify(p.props.attachments).includes(text) && (p.props.attachments?.[0]?.actions ?? []).length === 0;
  }, `the Mattermost post to say ${text}`);
}

const fileAudit = async (fileId: string): Promise<AuditEvent[]> =>
  (await aude.get(`/api/audit?target=session:${session.id}&limit=200`)).json<{ events: AuditEvent[] }>().events.filter((e) => e.details['fileId'] === fileId);

beforeAll(async () => {
  slack = await startFakeSlack(MONA, VERA, BRUNO);
  teams = await FakeTeams.start({ appId: TEAMS.appId, appPassword: TEAMS.appPassword });
  mm = await startFakeMattermost({ [MONA_MM]: 'mona' }, MM_CHANNEL);
  chat = await startChatPortal(
    {
      linking: { matchByEmail: true },
      slack: slackTrusting(slack),
      teams: teamsTrusting(teams),
      mattermost: mattermostTrusting(mm),
      sites: { 'site-a': { slack: { channel: SLACK_CHANNEL }, teams: { conversationId: CONVERSATION, serviceUrl: teams.serviceUrl }, mattermost: { channelId: MM_CHANNEL } } },
    },
    DB,
  );
  await seedDemoPlant(chat.portal, { targets: true });
  slackUrl = `${chat.portal.publicUrl}${SLACK_INTERACTIONS_PATH}`;
  teamsUrl = `${chat.portal.publicUrl}${TEAMS_MESSAGES_PATH}`;
  // Their sign-ins tell chat who they are (emails for Slack's matching, olga's Entra object id for Teams).
  [vera, mona, aude] = await Promise.all(['vera', 'mona', 'aude'].map((u) => loginAs(chat.portal.publicUrl, u))) as [Browserless, Browserless, Browserless];
  await loginAs(chat.portal.publicUrl, 'olga');
  await loginAs(chat.portal.publicUrl, 'bruno');
  const adam = await loginAs(chat.portal.publicUrl, 'adam');
  expect((await adam.request('PUT', '/api/admin/sites/site-a/files', { body: { release: 'approval', downloads: 'approval' } })).status).toBe(200);
  const grant = await grantNow(chat.portal, vera, mona, 'eng-station');
  session = await openSession(vera, grant);
  await session.tunnel.firstFrame(30_000);
});

afterAll(async () => {
  await session?.tunnel.close();
  await chat?.close();
  await Promise.all([slack?.close(), teams?.close(), mm?.close()]);
});

describe('a file waiting for approval', () => {
  test('is posted to Slack, Teams and Mattermost with name, size, hash, scan result and Release / Deny', async () => {
    const name = `recipe-${Date.now()}.csv`;
    const body = `speed,feed\n1200,0.3\n${name}\n`;
    const file = await upload(name, body);
    expect(file.state).toBe('awaiting_approval');
    const message = await slackMessage(name);
    const shown = JSON.stringify(message.blocks);
    for (const text of [name, sha256(body), `${body.length} bytes`, 'clean', 'into the plant', 'Vera Vendor', 'Engineering station']) expect(shown).toContain(text);
    expect(FakeSlack.buttons(message)).toEqual(['release_file', 'deny_file']);
    expect((await teamsCard(name)).card.actions.filter((a) => a.type === 'Action.Execute').map((a) => a.verb)).toEqual(['release_file', 'deny_file']);
    expect((await mmPost(name)).props.attachments?.[0]?.actions?.map((a) => a.name)).toEqual(['Release', 'Deny']);
  });

  test('Release from Slack: the vendor and a manager of another site are refused; a plant manager of the site releases, it is delivered, every copy updated; stale and replayed clicks change nothing', async () => {
    const name = `tool-${Date.now()}.txt`;
    const file = await upload(name, `${name}\n`);
    const message = await slackMessage(name);
    const before = structuredClone(message);
    expect(await slackReply(message, 'release_file', VERA)).toContain('Nobody may release their own file. Nothing was changed.');
    expect(await slackReply(message, 'release_file', BRUNO)).toContain("Only a plant manager of the machine's site");
    expect(await fileState(file.id)).toBe('awaiting_approval');

    const seen = slack.ephemeralCount(MONA.id);
    const first = await slack.click(slackUrl, message, 'release_file', MONA);
    expect(first.status).toBe(200);
    expect(await slack.ephemeralAfter(MONA.id, seen)).toContain(`You released ${name}`);
    await waitFor(async () => (await fileState(file.id)) === 'delivered', { ...WAIT, what: 'the released file delivered' });
    await everyCopyShows(name, 'Released by Mona Manager');

    // A replay of the same signed callback is acknowledged and not acted on; the old button is stale.
    expect((await slack.click(slackUrl, before, 'release_file', MONA, { replay: first.signed })).status).toBe(200);
    expect(await slackReply(before, 'deny_file', MONA)).toMatch(/out of date/);
    const events = await fileAudit(file.id);
    expect(events.filter((e) => e.action === 'file.released')).toEqual([expect.objectContaining({ actor: { id: 'dev:mona', name: 'Mona Manager' } })]);
    expect(events.filter((e) => e.action === 'file.denied')).toEqual([]);
  });

  test('Deny from Teams (olga, linked by her Entra sign-in): the file is denied, never delivered; every copy says so', async () => {
    const name = `patch-${Date.now()}.sh`;
    const file = await upload(name, 'echo patched\n');
    const res = await teams.invoke(teamsUrl, await teamsCard(name), 'deny_file', OLGA_TEAMS);
    expect(res.status).toBe(200);
    expect(String(res.json['value'])).toContain(`You denied ${name}`);
    expect(await fileState(file.id)).toBe('denied');
    await everyCopyShows(name, 'Denied by Olga Manager');
  });

  test('Mattermost: released on the web, the Mattermost button is out of date; a linked plant manager releases another from Mattermost', async () => {
    const webName = `web-${Date.now()}.txt`;
    const webFile = await upload(webName, 'decided on the web\n');
    const post = structuredClone(await mmPost(webName));
    expect((await mona.post(`/api/files/${webFile.id}/release`, {})).status).toBe(200);
    await everyCopyShows(webName, 'Released by Mona Manager');
    // Mona's first Mattermost click gives her a code to link her account; the stale button still changes nothing.
    const unlinked = String((await mm.click(post, 'denyfile', MONA_MM)).json['ephemeral_text']);
    await enterLinkCode(mona, linkCodeIn(unlinked));
    expect(String((await mm.click(post, 'denyfile', MONA_MM)).json['ephemeral_text'])).toMatch(/out of date/);
    expect(await fileState(webFile.id)).not.toBe('denied');

    const name = `config-${Date.now()}.ini`;
    const file = await upload(name, '[line2]\nspeed=1200\n');
    expect(String((await mm.click(await mmPost(name), 'releasefile', MONA_MM)).json['ephemeral_text'])).toContain(`You released ${name}`);
    await waitFor(async () => (await fileState(file.id)) === 'delivered', { ...WAIT, what: 'the file released from Mattermost delivered' });
    await everyCopyShows(name, 'Released by Mona Manager');
  });
});

describe('a file blocked as infected', () => {
  test('is posted to the site’s chats with its signature and no buttons', async () => {
    const name = `eicar-${Date.now()}.com`;
    const file = await upload(name, EICAR);
    expect(file.state).toBe('blocked');
    const message = await slackMessage(name);
    expect(JSON.stringify(message.blocks)).toContain('File blocked (infected)');
    expect(JSON.stringify(message.blocks)).toMatch(/Airlock\.Test\./);
    expect(FakeSlack.buttons(message)).toEqual([]);
    expect(JSON.stringify((await teamsCard(name)).card)).toContain('never reached the machine');
    expect(JSON.stringify((await mmPost(name)).props.attachments)).toContain(sha256(EICAR));
    expect(testServices().clamd).toBeDefined();
  });
});
