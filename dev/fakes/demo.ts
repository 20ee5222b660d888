// `AIRLOCK_DEMO_CHAT=fakes npm run demo`: the three chat fakes in the demo process, a chat
// configuration that routes both demo sites to them (site A: Slack and Mattermost, site B:
// Teams), the demo's users on each platform, and the chat page that shows each platform as its
// users see it, with working buttons (dev/fakes/viewer.ts). Tests use the same set-up.
import { randomBytes } from 'node:crypto';
import { DEMO_ACCOUNTS } from '../../server/auth/dev-idp.ts';
import { FakeSlack } from './slack.ts';
import { FakeTeams } from './teams.ts';
import { FakeMattermost } from './mattermost.ts';
import { ChatViewer, mattermostUserId, slackUser, type DemoChatUser } from './viewer.ts';

export interface DemoChat {
  /** The chat file's content (the demo writes it as YAML; tests hand it to their portal). */
  readonly config: Record<string, unknown>;
  /** The chat page. */
  readonly pageUrl: string;
  readonly slack: FakeSlack;
  readonly teams: FakeTeams;
  readonly mattermost: FakeMattermost;
  /** Where the portal listens, once it does (clicks go there). */
  setPortal(url: string): void;
  /** Lines for the demo's banner. */
  describe(): string;
  close(): Promise<void>;
}

const secret = () => randomBytes(24).toString('base64url');

/** Who can chat in the demo: the plant managers and the vendors. */
const CHAT_USERS: readonly DemoChatUser[] = DEMO_ACCOUNTS.filter((a) => ['mona', 'olga', 'bruno', 'vera', 'victor'].includes(a.username)).map((a) => ({
  username: a.username,
  name: a.name,
  describes: a.describes,
}));
/** Site A's managers are in the Mattermost approvers' channel. */
const MATTERMOST_CHANNEL_MEMBERS = ['mona', 'olga'];
const TENANT = 'demo-tenant';
const SLACK_CHANNEL = 'CAPPROVERSA';
const TEAMS_CHANNEL = '19:approvers-b@thread.tacv2';
const MATTERMOST_CHANNEL = 'approvers';

export async function startDemoChat(): Promise<DemoChat> {
  const slack = await FakeSlack.start({ botToken: `xoxb-${secret()}`, signingSecret: secret(), teamId: 'TDEMO', appId: 'ADEMO' });
  const teams = await FakeTeams.start({ appId: 'demo-bot', appPassword: secret() });
  const mattermost = await FakeMattermost.start({ botToken: secret(), teamId: 'demoteam' });
  const account = (username: string) => DEMO_ACCOUNTS.find((a) => a.username === username);
  for (const u of CHAT_USERS) {
    slack.addUser({ ...slackUser(u, 'TDEMO'), ...(account(u.username)?.email === undefined ? {} : { email: account(u.username)?.email }) });
    mattermost.addUser({ id: mattermostUserId(u), username: u.username });
  }
  mattermost.addChannel(MATTERMOST_CHANNEL, CHAT_USERS.filter((u) => MATTERMOST_CHANNEL_MEMBERS.includes(u.username)).map(mattermostUserId));
  // What each fake received, as JSON (for a look under the hood).
  slack.server.route('GET', /^\/messages$/, () => ({ json: [...slack.messages.values()] }));
  teams.server.route('GET', /^\/messages$/, () => ({ json: { cards: [...teams.cards.values()], webhook: teams.webhookCards } }));
  mattermost.server.route('GET', /^\/messages$/, () => ({ json: [...mattermost.posts.values()] }));

  let portalUrl = '';
  const viewer = new ChatViewer({
    slack,
    teams,
    mattermost,
    portalUrl: () => portalUrl,
    users: CHAT_USERS,
    channels: { slack: { 'plant-a-approvers': SLACK_CHANNEL }, teams: { 'Plant B approvers': TEAMS_CHANNEL }, mattermost: { 'plant-a-approvers': MATTERMOST_CHANNEL } },
    tenantId: TENANT,
  });
  await viewer.listen();

  const config = {
    allowInsecureLoopbackUrls: true,
    slack: { botToken: slack.options.botToken, signingSecret: slack.options.signingSecret, allowedTeams: ['TDEMO'], allowedApps: ['ADEMO'], apiUrl: slack.apiUrl },
    teams: {
      bot: { appId: 'demo-bot', appPassword: teams.options.appPassword, allowedTenants: [TENANT], jwksUrl: teams.jwksUrl, tokenUrl: teams.tokenUrl, allowedServiceUrls: [teams.serviceUrl] },
    },
    mattermost: { url: mattermost.server.url, botToken: mattermost.options.botToken, contextSecret: secret(), allowedTeams: ['demoteam'] },
    sites: {
      'site-a': { slack: { channel: SLACK_CHANNEL, directMessages: true }, mattermost: { channelId: MATTERMOST_CHANNEL } },
      'site-b': { teams: { conversationId: TEAMS_CHANNEL, serviceUrl: teams.serviceUrl, directMessages: true } },
    },
  };
  return {
    config,
    pageUrl: viewer.url,
    slack,
    teams,
    mattermost,
    setPortal(url) {
      portalUrl = url;
    },
    describe: () =>
      [
        `Chat page   ${viewer.url}/   (each platform's channels as its users see them; click the buttons)`,
        `Raw         Slack ${slack.server.url}/messages · Teams ${teams.server.url}/messages · Mattermost ${mattermost.server.url}/messages`,
      ]
        .map((l) => `    ${l}`)
        .join('\n'),
    async close() {
      await viewer.close();
      await Promise.all([slack.close(), teams.close(), mattermost.close()]);
    },
  };
}
