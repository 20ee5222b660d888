// bench/chat: time from a signed Slack click to the decision being stored (the callback's 200)
// and to every copy of the card being updated (channel + two approvers' direct messages), over
// 200 sequential clicks against the local fake Slack. Portal and fake share this process; Redis
// is a private one (AOF), started here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { startServices } from '../dev/supervisor.ts';
import { freePort } from '../dev/probes.ts';
import { loadConfig } from '../server/config.ts';
import { createLogger } from '../server/log.ts';
import { startPortal } from '../server/app/portal.ts';
import { demoInventory } from '../dev/demo-inventory.ts';
import { FakeSlack, type SlackMessage, type SlackUser } from '../dev/fakes/slack.ts';
import { SLACK_INTERACTIONS_PATH } from '../server/chat/slack.ts';
import { loginAs, type Browserless } from '../test/support/http.ts';
import { TEST_IDP_PASSWORD } from '../test/support/portal.ts';
import { percentile, printTable, round, type LoadResult } from './lib.ts';

/** As the issue asks: p50/p95 over 200 clicks. */
const CLICKS = 200;
const CHANNEL = 'CBENCH';
const SLACK = { botToken: 'xoxb-bench-token', signingSecret: 'bench-signing-secret-0123', teamId: 'TBENCH', appId: 'ABENCH' };
const MONA: SlackUser = { id: 'UMONA', teamId: SLACK.teamId };
const OLGA: SlackUser = { id: 'UOLGA', teamId: SLACK.teamId };

const stateDir = mkdtempSync(path.join(tmpdir(), 'airlock-bench-chat-'));
const supervisor = await startServices({ stateDir, services: ['redis'], userPrefix: 'airlock-bench' });
const slack = await FakeSlack.start(SLACK);
const chatFile = path.join(stateDir, 'chat.yaml');
writeFileSync(
  chatFile,
  toYaml({
    allowInsecureLoopbackUrls: true,
    slack: { botToken: SLACK.botToken, signingSecret: SLACK.signingSecret, allowedTeams: [SLACK.teamId], allowedApps: [SLACK.appId], apiUrl: slack.apiUrl },
    sites: { 'site-a': { slack: { channel: CHANNEL, directMessages: true } } },
  }),
);
const port = await freePort();
const config = loadConfig({
  AIRLOCK_MODE: 'test',
  AIRLOCK_PORT: String(port),
  AIRLOCK_PUBLIC_URL: `http://localhost:${port}`,
  AIRLOCK_REDIS_URL: supervisor.services.redis?.url ?? '',
  AIRLOCK_INSECURE_HTTP_COOKIES: 'true',
  AIRLOCK_DEV_IDP_PASSWORD: TEST_IDP_PASSWORD,
  AIRLOCK_LOG_LEVEL: 'warn',
  AIRLOCK_CHAT_FILE: chatFile,
  // The bench drives a few accounts hard; the per-user limits would measure themselves.
  AIRLOCK_RATE_LIMIT_WRITES_PER_MINUTE: '1000000',
  AIRLOCK_RATE_LIMIT_READS_PER_MINUTE: '1000000',
});
const portal = await startPortal(config, createLogger('warn'));
const requestUrl = `${config.publicUrl}${SLACK_INTERACTIONS_PATH}`;

const about = (id: string) => (m: SlackMessage) => JSON.stringify(m.blocks).includes(id);
const copiesOf = (id: string) => [...slack.messages.values()].filter(about(id));
const cardIn = async (channel: string, id: string): Promise<SlackMessage> => {
  await slack.server.until(() => slack.messagesIn(channel).some(about(id)), `a card about ${id}`);
  return slack.messagesIn(channel).find(about(id)) as SlackMessage;
};

async function fileRequest(vera: Browserless): Promise<string> {
  const start = Date.now() + 3_600_000;
  const res = await vera.post('/api/requests', { machineId: 'cnc-07', windowStart: new Date(start).toISOString(), windowEnd: new Date(start + 1_800_000).toISOString(), reason: 'bench' });
  if (res.status !== 201) throw new Error(`create failed: ${res.text}`);
  return res.json<{ request: { id: string } }>().request.id;
}

function result(name: string, samples: number[], seconds: number): LoadResult {
  const sorted = [...samples].sort((a, b) => a - b);
  return { name, requests: sorted.length, errors: 0, seconds, rps: sorted.length / seconds, p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99) };
}

try {
  await portal.services.inventory.seed(demoInventory({}), true);
  const [vera, mona, olga, aude] = (await Promise.all(['vera', 'mona', 'olga', 'aude'].map((u) => loginAs(config.publicUrl, u)))) as [Browserless, Browserless, Browserless, Browserless];
  // Link both approvers the way people do: click, receive a code, enter it in Airlock.
  const first = await cardIn(CHANNEL, await fileRequest(vera));
  for (const [user, agent] of [[MONA, mona], [OLGA, olga]] as const) {
    const seen = slack.ephemeralCount(user.id);
    await slack.click(requestUrl, first, 'approve', user);
    const code = /code ([0-9A-Z-]{11})/.exec(await slack.ephemeralAfter(user.id, seen))?.[1] ?? '';
    if ((await agent.post('/api/chat/links', { code })).status !== 201) throw new Error('linking failed');
  }

  const ids: string[] = [];
  for (let i = 0; i < CLICKS; i++) ids.push(await fileRequest(vera));
  await slack.server.until(() => slack.messages.size >= 3 * CLICKS + 1, 'every card posted', 60_000);
  // Each request's copies, found once: the waits below must not cost more than what they measure.
  const copies = new Map(ids.map((id) => [id, copiesOf(id)]));

  const toDecision: number[] = [];
  const toUpdate: number[] = [];
  const started = performance.now();
  for (const [i, id] of ids.entries()) {
    const mine = copies.get(id) ?? [];
    const card = mine.find((m) => m.channel === CHANNEL) as SlackMessage;
    const t0 = performance.now();
    const res = await slack.click(requestUrl, card, i % 2 === 0 ? 'approve' : 'deny', i % 3 === 0 ? OLGA : MONA);
    if (res.status !== 200) throw new Error(`click refused: ${res.status} ${res.text}`);
    toDecision.push(performance.now() - t0);
    await slack.server.until(() => mine.length === 3 && mine.every((m) => m.updates > 0), `every copy of ${id} updated`);
    toUpdate.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  const states = await Promise.all(ids.map(async (id) => (await aude.get(`/api/requests/${id}`)).json<{ request: { state: string } }>().request.state));
  const decided = states.filter((s) => s === 'approved' || s === 'denied').length;
  if (decided !== CLICKS) throw new Error(`${CLICKS - decided} clicks left no decision`);

  console.log(`\nbench/chat: ${CLICKS} sequential signed Slack clicks, 3 copies per card, fake Slack and portal in one process, real Redis (AOF)\n`);
  const update = result('click → every copy updated', toUpdate, seconds);
  printTable([result('click → decision stored', toDecision, seconds), update]);
  console.log(JSON.stringify({ click_to_update_p50_ms: round(update.p50), click_to_update_p95_ms: round(update.p95) }));
} finally {
  await portal.close();
  await slack.close();
  await supervisor.stop();
  rmSync(stateDir, { recursive: true, force: true });
}

