// `AIRLOCK_DEMO_CHAT=fakes npm run demo`: the three chat fakes in the demo process and a chat
// file that routes both demo sites to them, so the demo posts its approval cards locally.
// Each fake shows what it received at GET /messages.
import { writeFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { randomBytes } from 'node:crypto';
import { FakeSlack } from './slack.ts';
import { FakeTeams } from './teams.ts';
import { FakeMattermost } from './mattermost.ts';

export interface DemoChat {
  /** One line per fake: where to look. */
  describe(): string;
  close(): Promise<void>;
}

const secret = () => randomBytes(24).toString('base64url');

export async function startDemoChat(chatFile: string): Promise<DemoChat> {
  const slack = await FakeSlack.start({ botToken: `xoxb-${secret()}`, signingSecret: secret(), teamId: 'TDEMO', appId: 'ADEMO' });
  const teams = await FakeTeams.start({ appId: 'demo-bot', appPassword: secret() });
  const mattermost = await FakeMattermost.start({ botToken: secret(), teamId: 'demoteam' });
  mattermost.addChannel('approvers', []);
  slack.server.route('GET', /^\/messages$/, () => ({ json: [...slack.messages.values()] }));
  teams.server.route('GET', /^\/messages$/, () => ({ json: { cards: [...teams.cards.values()], webhook: teams.webhookCards } }));
  mattermost.server.route('GET', /^\/messages$/, () => ({ json: [...mattermost.posts.values()] }));
  const mattermostSecret = secret();
  writeFileSync(
    chatFile,
    toYaml({
      allowInsecureLoopbackUrls: true,
      slack: { botToken: slack.options.botToken, signingSecret: slack.options.signingSecret, allowedTeams: ['TDEMO'], allowedApps: ['ADEMO'], apiUrl: slack.apiUrl },
      teams: {
        bot: { appId: 'demo-bot', appPassword: teams.options.appPassword, allowedTenants: ['demo-tenant'], jwksUrl: teams.jwksUrl, tokenUrl: teams.tokenUrl, allowedServiceUrls: [teams.serviceUrl] },
      },
      mattermost: { url: mattermost.server.url, botToken: mattermost.options.botToken, contextSecret: mattermostSecret, allowedTeams: ['demoteam'] },
      sites: {
        'site-a': { slack: { channel: 'CAPPROVERSA', directMessages: true }, mattermost: { channelId: 'approvers' } },
        'site-b': { teams: { conversationId: '19:approvers-b@thread.tacv2', serviceUrl: teams.serviceUrl, directMessages: true } },
      },
    }),
    { mode: 0o600 },
  );
  return {
    describe: () =>
      [`Slack       ${slack.server.url}/messages`, `Teams       ${teams.server.url}/messages`, `Mattermost  ${mattermost.server.url}/messages`].map((l) => `    ${l}`).join('\n'),
    async close() {
      await Promise.all([slack.close(), teams.close(), mattermost.close()]);
    },
  };
}
