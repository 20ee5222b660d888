// Chat suites: a portal with AIRLOCK_CHAT_FILE pointing at the local fakes, on a Redis database
// of the suite's own (emptied first), the demo plant seeded, and helpers to link chat users the
// way people do (click, get a code, enter it in Airlock).
import { expect } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { stringify as toYaml } from 'yaml';
import { startTestPortal, type TestPortal } from './portal.ts';
import { sharedRedisUrl } from './services.ts';
import { seedDemoPlant } from './workflow.ts';
import type { Browserless } from './http.ts';
import { FakeSlack, type SlackMessage, type SlackUser } from '../../dev/fakes/slack.ts';
import { FakeTeams } from '../../dev/fakes/teams.ts';
import { FakeMattermost, type MattermostPost } from '../../dev/fakes/mattermost.ts';

export const SLACK = { botToken: 'xoxb-test-bot-token', signingSecret: 'slack-signing-secret-for-tests', teamId: 'TPLANT01', appId: 'AAIRLOCK1' };
export const TEAMS = { appId: '00000000-aaaa-4bbb-8ccc-000000000001', appPassword: 'teams-app-password', tenantId: 'tenant-plant-1' };
export const MATTERMOST = { botToken: 'mattermost-bot-token', contextSecret: 'mattermost-context-secret-0123456789abcdef', teamId: 'teamplant1' };

/** The fake Slack of the test workspace, knowing `users`. */
export async function startFakeSlack(...users: SlackUser[]): Promise<FakeSlack> {
  const slack = await FakeSlack.start(SLACK);
  for (const u of users) slack.addUser(u);
  return slack;
}

/** The fake Mattermost of the test team, knowing `users` (id → username); `channel`, if named, has `members`. */
export async function startFakeMattermost(users: Record<string, string> = {}, channel?: string, members = Object.keys(users)): Promise<FakeMattermost> {
  const mm = await FakeMattermost.start({ botToken: MATTERMOST.botToken, teamId: MATTERMOST.teamId });
  for (const [id, username] of Object.entries(users)) mm.addUser({ id, username });
  if (channel !== undefined) mm.addChannel(channel, members);
  return mm;
}

/** The chat file's `slack` section for a portal that trusts the fake Slack (signed Request URL). */
export const slackTrusting = (slack: FakeSlack) => ({ botToken: SLACK.botToken, signingSecret: SLACK.signingSecret, allowedTeams: [SLACK.teamId], allowedApps: [SLACK.appId], apiUrl: slack.apiUrl });
/** The chat file's `teams` section for a portal that trusts the fake Teams. */
export const teamsTrusting = (teams: FakeTeams) => ({ bot: { appId: TEAMS.appId, appPassword: TEAMS.appPassword, allowedTenants: [TEAMS.tenantId], jwksUrl: teams.jwksUrl, tokenUrl: teams.tokenUrl, allowedServiceUrls: [teams.serviceUrl] } });
/** The chat file's `mattermost` section for a portal that trusts the fake Mattermost. */
export const mattermostTrusting = (mm: FakeMattermost) => ({ url: mm.server.url, botToken: MATTERMOST.botToken, contextSecret: MATTERMOST.contextSecret, allowedTeams: [MATTERMOST.teamId] });

export interface ChatPortal {
  portal: TestPortal;
  close(): Promise<void>;
}

/** Starts a portal whose chat file is `chat` (allowInsecureLoopbackUrls added: the fakes are http). */
export async function startChatPortal(chat: Record<string, unknown>, db: number, env: Record<string, string | undefined> = {}): Promise<ChatPortal> {
  const url = new URL(sharedRedisUrl());
  url.pathname = `/${db}`;
  // A portal on a Redis of its own (AIRLOCK_REDIS_URL unset for Sentinel) keeps that store's data.
  const ownStore = 'AIRLOCK_REDIS_URL' in env && env['AIRLOCK_REDIS_URL'] === undefined;
  if (!ownStore) {
    const client = createClient({ url: url.toString() });
    await client.connect();
    await client.flushDb();
    client.destroy();
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-chat-'));
  const file = path.join(dir, 'chat.yaml');
  writeFileSync(file, toYaml({ allowInsecureLoopbackUrls: true, ...chat }));
  const portal = await startTestPortal({ AIRLOCK_CHAT_FILE: file, AIRLOCK_REDIS_URL: url.toString(), ...env });
  await seedDemoPlant(portal);
  return {
    portal,
    async close() {
      await portal.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The one-time code in a "not linked" explanation. */
export function linkCodeIn(text: string): string {
  const code = /code ([0-9A-Z]{5}-[0-9A-Z]{5})/.exec(text)?.[1];
  if (code === undefined) throw new Error(`no link code in: ${text}`);
  return code;
}

/** Enters a code in Airlock's "Chat accounts" as the signed-in agent. */
export async function enterLinkCode(agent: Browserless, code: string): Promise<void> {
  const res = await agent.post('/api/chat/links', { code });
  if (res.status !== 201) throw new Error(`linking failed (${res.status}): ${res.text}`);
}

export interface AllPlatformsChatPortal extends ChatPortal {
  slack: FakeSlack;
  teams: FakeTeams;
  mm: FakeMattermost;
}

/** The three fakes and a portal that trusts all three (no site channels); `close` stops them all. */
export async function startAllPlatformsChatPortal(db: number, env: Record<string, string> = {}): Promise<AllPlatformsChatPortal> {
  const slack = await startFakeSlack();
  const teams = await FakeTeams.start({ appId: TEAMS.appId, appPassword: TEAMS.appPassword });
  const mm = await startFakeMattermost();
  const chat = await startChatPortal(
    {
      slack: slackTrusting(slack),
      teams: teamsTrusting(teams),
      mattermost: mattermostTrusting(mm),
      sites: {},
    },
    db,
    env,
  );
  return {
    ...chat,
    slack,
    teams,
    mm,
    async close() {
      await chat.close();
      await Promise.all([slack.close(), teams.close(), mm.close()]);
    },
  };
}

/** A Slack user of the test workspace: `mona` is UMONA. */
export const slackUser = (name: string): SlackUser => ({ id: `U${name.toUpperCase()}`, teamId: SLACK.teamId, name });

/** The card about `id` in `channel`, once the portal has posted it. */
export async function slackCardIn(slack: FakeSlack, channel: string, id: string): Promise<SlackMessage> {
  const find = () => slack.messagesIn(channel).find((m) => JSON.stringify(m.blocks).includes(id));
  await slack.server.until(() => find() !== undefined, `a card about ${id} in ${channel}`);
  const card = find();
  if (card === undefined) throw new Error('unreachable');
  return card;
}

/** Waits until every copy about `id` has been rewritten to show `text`. */
export async function allSlackCopiesShow(slack: FakeSlack, id: string, text: string): Promise<SlackMessage[]> {
  const about = () => [...slack.messages.values()].filter((m) => JSON.stringify(m.blocks).includes(id) || m.text.includes(id));
  await slack.server.until(() => about().length > 0 && about().every((m) => JSON.stringify(m.blocks).includes(text)), `every copy of ${id} to show ${text}`);
  return about();
}

/** Clicks `action` on `message` through the Request URL `url` (answered 200); returns the ephemeral reply. */
export async function slackClickReply(slack: FakeSlack, url: string, message: SlackMessage, action: string, user: SlackUser): Promise<string> {
  const seen = slack.ephemeralCount(user.id);
  expect((await slack.click(url, message, action, user)).status).toBe(200);
  return slack.ephemeralAfter(user.id, seen);
}

/** The first post in `channel` that `matches`, once the portal has posted it; `what` names it if it never comes. */
export async function mattermostPostIn(mm: FakeMattermost, channel: string, matches: (post: MattermostPost) => boolean, what: string): Promise<MattermostPost> {
  const find = () => mm.postsIn(channel).find(matches);
  await mm.server.until(() => find() !== undefined, what);
  return find() as MattermostPost;
}
