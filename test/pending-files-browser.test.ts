// Issue 14, the plant's "Files" screen in a real browser, on real clamd, guacd and sshd: a file
// the vendor sends shows up live (session.file events, no reload) with its name, size, SHA-256,
// scan result, direction, vendor and machine; Release delivers it; an infected file is listed as
// blocked. The events reach the site's plant managers only: not another site's, not the vendor.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { Page } from 'playwright-core';
import { startScreenLab, type ScreenLab } from './support/browser.ts';
import { loginAs, type Browserless } from './support/http.ts';
import { createRequest, grantNow } from './support/workflow.ts';
import { openSession, type Tunnel } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import type { FileView } from '../sessions/files/airlock.ts';

const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
let lab: ScreenLab;
let vera: Browserless;
let mona: Browserless;
let page: Page;
let session: { id: string; tunnel: Tunnel };

async function upload(name: string, body: string): Promise<FileView> {
  const res = await fetch(new URL(`/api/sessions/${session.id}/files?name=${encodeURIComponent(name)}`, vera.base), {
    method: 'PUT',
    headers: { cookie: vera.cookieHeader(), origin: new URL(vera.base).origin, 'content-type': 'application/octet-stream' },
    body: Buffer.from(body),
  });
  return ((await res.json()) as { file: FileView }).file;
}

/** The agent's /api/events stream: the named events it carried so far. */
async function openEvents(agent: Browserless): Promise<{ types: string[]; close(): void }> {
  const controller = new AbortController();
  const res = await fetch(new URL('/api/events', agent.base), { headers: { cookie: agent.cookieHeader(), accept: 'text/event-stream' }, signal: controller.signal });
  const reader = res.body?.getReader();
  const decoder = new TextDecoder();
  const types: string[] = [];
  await reader?.read(); // ": connected": the stream listens from here on
  void (async () => {
    for (;;) {
      const chunk = await reader?.read().catch(() => undefined);
      if (chunk === undefined || chunk.done) return;
      for (const m of decoder.decode(chunk.value).matchAll(/^event: (\S+)$/gm)) types.push(m[1] ?? '');
    }
  })();
  return { types, close: () => controller.abort() };
}

beforeAll(async () => {
  lab = await startScreenLab({}, { freshDb: 10, targets: true });
  [vera, mona] = await Promise.all([loginAs(lab.portal.publicUrl, 'vera'), loginAs(lab.portal.publicUrl, 'mona')]);
  const adam = await loginAs(lab.portal.publicUrl, 'adam');
  expect((await adam.request('PUT', '/api/admin/sites/site-a/files', { body: { release: 'approval', downloads: 'approval' } })).status).toBe(200);
  const grant = await grantNow(lab.portal, vera, mona, 'eng-station');
  session = await openSession(vera, grant);
  await session.tunnel.firstFrame(30_000);
  page = await lab.page('mona');
  await page.getByTestId('nav-files').click();
  await page.getByTestId('pending-files-empty').waitFor();
});

afterAll(async () => {
  await session?.tunnel.close();
  await lab?.close();
});

test('a file sent into the plant appears live with its facts; Release delivers it and it leaves the list', async () => {
  const name = `recipe-${Date.now()}.csv`;
  const body = 'speed,feed\n1200,0.3\n';
  const file = await upload(name, body);
  expect(file.state).toBe('awaiting_approval');
  const row = page.getByTestId(`pending-file-${file.id}`);
  await row.waitFor(); // no reload: the session.file event refreshed the list
  const text = (await row.textContent()) ?? '';
  for (const shown of [name, `${body.length} B`, createHash('sha256').update(body).digest('hex'), 'clean', 'Into the plant', 'Vera Vendor', 'Engineering station']) expect(text).toContain(shown);
  await page.getByTestId(`release-file-${file.id}`).click();
  await expect(page.getByTestId('pending-files-notice').textContent()).resolves.toContain(`Released ${name}`);
  await row.waitFor({ state: 'detached' });
  await waitFor(async () => (await vera.get(`/api/sessions/${session.id}/files`)).json<{ files: FileView[] }>().files.find((f) => f.id === file.id)?.state === 'delivered', { timeoutMs: 30_000, what: 'the file delivered' });
});

test('Deny: the file is not released and leaves the list', async () => {
  const file = await upload(`tool-${Date.now()}.sh`, 'echo hi\n');
  await page.getByTestId(`deny-file-${file.id}`).click();
  await waitFor(async () => ((await page.getByTestId('pending-files-notice').textContent()) ?? '').includes('Denied'), { timeoutMs: 5_000, what: 'the notice to say Denied' });
  await page.getByTestId(`pending-file-${file.id}`).waitFor({ state: 'detached' });
});

test('an infected file is listed as blocked, with its signature', async () => {
  const file = await upload(`eicar-${Date.now()}.com`, EICAR);
  expect(file.state).toBe('blocked');
  const row = page.getByTestId(`blocked-file-${file.id}`);
  await row.waitFor();
  expect(await page.getByTestId(`file-scan-${file.id}`).textContent()).toMatch(/infected: Airlock\.Test\./);
});

test('session.file events reach the site’s plant managers, not another site’s nor the vendor', async () => {
  const bruno = await loginAs(lab.portal.publicUrl, 'bruno');
  const [toMona, toBruno, toVera] = await Promise.all([openEvents(mona), openEvents(bruno), openEvents(vera)]);
  try {
    await upload(`notes-${Date.now()}.txt`, 'notes\n');
    await waitFor(() => toMona.types.includes('session.file'), { timeoutMs: 10_000, what: 'mona to hear of the file' });
    // Then an event each of the others hears (vera's own request, a site-b one for bruno): a stream keeps its order, so a file event would be there by now.
    await createRequest(vera, { machineId: 'cnc-07' });
    await lab.portal.services.events.publish({ type: 'request.created', requestId: 'marker', state: 'pending', siteId: 'site-b', requesterId: 'dev:victor', actorId: null, at: new Date().toISOString() });
    await waitFor(() => toBruno.types.includes('request.created') && toVera.types.includes('request.created'), { timeoutMs: 10_000, what: 'bruno and vera to hear of the request' });
    expect(toBruno.types).not.toContain('session.file');
    expect(toVera.types).not.toContain('session.file');
  } finally {
    for (const s of [toMona, toBruno, toVera]) s.close();
  }
});
