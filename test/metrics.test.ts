// Prometheus /metrics: scraped after a real SSH session, a refused upgrade, an approval and a
// chat card that could not be delivered; the bearer token and the separate listener are enforced.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify as toYaml } from 'yaml';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { type Browserless, loginAll } from './support/http.ts';
import { createRequest, grantNow, seedDemoPlant, sessionEnd, sessionTicket } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { redisDbUrl, sharedRedisUrl } from './support/services.ts';
import { waitFor } from './support/wait.ts';
import { freePort } from '../dev/probes.ts';
import { ConfigError, loadConfig } from '../server/config.ts';

const DB = 3;
const TOKEN = randomBytes(32).toString('base64url');
let dir: string;
let portal: TestPortal;
let separate: TestPortal;
let vera: Browserless;
let mona: Browserless;
let aude: Browserless;

/** A sample's value: `name{labels}` with exactly these labels (in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(labels).sort())) return Number(m[3]);
  }
  return undefined;
}

/** Every label set a metric has a sample for. */
function labelSets(text: string, name: string): Array<Record<string, string>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .map((l) => Object.fromEntries([...l.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? ''])));
}

async function scrape(url = `${portal.url}/metrics`, token: string | undefined = TOKEN): Promise<string> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'airlock-metrics-'));
  // Site A's chat cards go to a Teams webhook nobody listens on: every post fails.
  const chatFile = path.join(dir, 'chat.yaml');
  writeFileSync(chatFile, toYaml({ allowInsecureLoopbackUrls: true, teams: {}, sites: { 'site-a': { teams: { webhookUrl: `http://127.0.0.1:${await freePort()}/webhook` } } } }));
  const env = { AIRLOCK_RECORDING_SPOOL: path.join(dir, 'spool'), AIRLOCK_RECORDING_STORE: path.join(dir, 'store'), AIRLOCK_RECORDING_MIN_FREE_MB: '1' };
  portal = await startTestPortal({ ...env, AIRLOCK_METRICS_TOKEN: TOKEN, AIRLOCK_CHAT_FILE: chatFile }, { freshDb: DB });
  separate = await startTestPortal({ ...env, AIRLOCK_REDIS_URL: redisDbUrl(DB), AIRLOCK_METRICS_LISTEN: '127.0.0.1:0' });
  await seedDemoPlant(portal, { targets: true });
  [vera, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'mona', 'aude');
});

afterAll(async () => {
  await portal?.close();
  await separate?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('what a scrape shows', () => {
  test('a real SSH session: live while it runs, its set-up time, its end, its recording bytes and finalise lag; the approval; a refused upgrade; guacd and Redis', async () => {
    const requestId = await grantNow(portal, vera, mona, 'cnc-07');
    const { ticket, id } = await sessionTicket(vera, requestId);
    const opened = await openTunnel(vera, { ticket });
    if (!opened.ok) throw new Error(`tunnel refused: ${opened.status} ${opened.body}`);
    await opened.tunnel.firstFrame();
    let text = '';
    await waitFor(async () => sample((text = await scrape()), 'airlock_sessions_live', { site: 'site-a', protocol: 'ssh' }) === 1, { timeoutMs: 5_000, what: 'the live session in the metrics' });
    expect(sample(text, 'airlock_session_setup_seconds_count', { site: 'site-a', protocol: 'ssh' })).toBe(1);
    const setup = sample(text, 'airlock_session_setup_seconds_sum', { site: 'site-a', protocol: 'ssh' }) ?? 0;
    expect(setup).toBeGreaterThan(0);
    expect(setup).toBeLessThan(20);

    // The same ticket again: refused at the upgrade (it was consumed), counted by reason.
    const replay = await openTunnel(vera, { ticket });
    expect(replay.ok).toBe(false);
    await opened.tunnel.close();
    await sessionEnd(aude, id);
    await waitFor(async () => (sample((text = await scrape()), 'airlock_recording_finalise_lag_seconds_count') ?? 0) >= 1, { timeoutMs: 20_000, what: 'the finalised recording in the metrics' });

    expect(sample(text, 'airlock_sessions_live', { site: 'site-a', protocol: 'ssh' })).toBeUndefined();
    expect(sample(text, 'airlock_sessions_setting_up')).toBe(0);
    expect(sample(text, 'airlock_session_ends_total', { reason: 'disconnected', started: 'true' })).toBe(1);
    expect(sample(text, 'airlock_recording_bytes_total', { kind: 'recording' })).toBeGreaterThan(1000);
    expect(sample(text, 'airlock_recording_finalise_failures_total')).toBe(0);
    expect(sample(text, 'airlock_recording_write_failures_total')).toBeUndefined();
    expect(sample(text, 'airlock_request_transitions_total', { action: 'approve', state: 'approved' })).toBe(1);
    expect(sample(text, 'airlock_refusals_total', { action: 'session.upgrade', reason: 'invalid_ticket' })).toBe(1);
    expect(sample(text, 'airlock_guacd_up', { guacd: 'default' })).toBe(1);
    expect(labelSets(text, 'airlock_guacd_info')).toEqual([{ guacd: 'default', version: expect.stringMatching(/^VERSION_\d+_\d+_\d+$/) }]);
    expect(sample(text, 'airlock_redis_up')).toBe(1);
    expect(sample(text, 'airlock_redis_ping_seconds')).toBeGreaterThan(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  test('a chat card that could not be delivered is counted per platform', async () => {
    await createRequest(vera, { machineId: 'cnc-07' });
    await waitFor(async () => (sample(await scrape(), 'airlock_chat_delivery_failures_total', { platform: 'teams', operation: 'post' }) ?? 0) >= 1, { timeoutMs: 10_000, what: 'the failed chat post in the metrics' });
  });

  test('a denial is counted apart from approvals, and a refused decision by its reason', async () => {
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    // The requester may never decide: refused, audited, counted.
    expect((await vera.post(`/api/requests/${id}/deny`, {})).status).toBe(403);
    expect((await mona.post(`/api/requests/${id}/deny`, { comment: 'not this week' })).status).toBe(200);
    const text = await scrape();
    expect(sample(text, 'airlock_request_transitions_total', { action: 'deny', state: 'denied' })).toBe(1);
    expect(sample(text, 'airlock_refusals_total', { action: 'request.deny', reason: 'own_request' })).toBe(1);
  });
});

describe('who may scrape', () => {
  test('on the portal listener, only with the bearer token: none, a wrong one or another scheme get 401 and no figures', async () => {
    for (const authorization of [undefined, `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`, `Bearer ${TOKEN} ${TOKEN}`]) {
      const res = await fetch(`${portal.url}/metrics`, authorization === undefined ? {} : { headers: { authorization } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="airlock-metrics"');
      const body = await res.text();
      expect(JSON.parse(body)).toEqual({ error: { code: 'metrics_unauthorized', message: expect.any(String) } });
      expect(body).not.toContain('airlock_');
    }
  });

  test('with AIRLOCK_METRICS_LISTEN, /metrics is on that address only: the users\' listener answers 404', async () => {
    expect(separate.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const text = await scrape(`${separate.metricsUrl}/metrics`, undefined);
    expect(sample(text, 'airlock_guacd_up', { guacd: 'default' })).toBe(1);
    expect((await fetch(`${separate.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${separate.metricsUrl}/api/me`)).status).toBe(404);
    // With a token only, there is no listener of its own.
    expect(portal.metricsUrl).toBeUndefined();
  });

  test('a metrics listener off loopback needs a token; a short token is refused', () => {
    const base = { AIRLOCK_MODE: 'test', AIRLOCK_REDIS_URL: sharedRedisUrl(), AIRLOCK_INSECURE_HTTP_COOKIES: 'true' };
    expect(() => loadConfig({ ...base, AIRLOCK_METRICS_LISTEN: '0.0.0.0:9464' })).toThrow(new ConfigError('AIRLOCK_METRICS_LISTEN', 'a non-loopback address needs AIRLOCK_METRICS_TOKEN (or AIRLOCK_METRICS_TOKEN_FILE)'));
    expect(() => loadConfig({ ...base, AIRLOCK_METRICS_TOKEN: 'short' })).toThrow(ConfigError);
    expect(loadConfig({ ...base, AIRLOCK_METRICS_LISTEN: '0.0.0.0:9464', AIRLOCK_METRICS_TOKEN: TOKEN }).metrics).toEqual({ listen: { host: '0.0.0.0', port: 9464 }, token: TOKEN });
    expect(loadConfig(base).metrics).toEqual({ listen: undefined, token: undefined });
  });
});
