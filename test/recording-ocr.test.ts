// Issue 15: text shown in graphical sessions is found by the recordings search and the player's
// find. Real VNC and RDP sessions (an xterm at 1024×768) show known words; the renderer worker
// reads the screen with tesseract; the test measures recall (words found by search ÷ words
// shown) and checks that the timeline has the moment each word appeared.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs } from './support/http.ts';
import { createRequest, grantNow, seedDemoPlant, sessionEnd, windowFromNow } from './support/workflow.ts';
import { openSession } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import type { TimelineEntry } from '../recordings/service.ts';
import { KNOWN_WORDS, SHOW_KNOWN_WORDS, SHOW_KNOWN_WORDS_FORM } from './support/screen-text.ts';

const DRAWING = ['img', 'png', 'rect', 'cfill', 'copy'];
let spool: string;
let store: string;
let portal: TestPortal;
let agents: Record<'vera' | 'mona' | 'olga' | 'aude', Browserless>;
const recalls: Record<string, number> = {};

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-ocr-spool-'));
  store = mkdtempSync(path.join(tmpdir(), 'airlock-ocr-store-'));
  portal = await startTestPortal(
    { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_STORE: store, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_MAX_SESSIONS_PER_USER: '10', AIRLOCK_RENDER_WORKER: 'inprocess' },
    { freshDb: 14 },
  );
  await seedDemoPlant(portal, { targets: true });
  const names = ['vera', 'mona', 'olga', 'aude'] as const;
  const logged = await Promise.all(names.map((u) => loginAs(portal.publicUrl, u)));
  agents = Object.fromEntries(names.map((n, i) => [n, logged[i]])) as typeof agents;
});

afterAll(async () => {
  await portal?.close();
  for (const d of [spool, store]) if (d !== undefined) rmSync(d, { recursive: true, force: true });
  process.stdout.write(`ocr recall: ${JSON.stringify(recalls)}\n`);
});

async function grantFor(machineId: string): Promise<string> {
  const { vera, mona, olga } = agents;
  if (machineId !== 'scada-historian') return grantNow(portal, vera, mona, machineId);
  const id = await createRequest(vera, { machineId, ...windowFromNow(1_200, 600_000) });
  await mona.post(`/api/requests/${id}/approve`, {});
  await olga.post(`/api/requests/${id}/approve`, {});
  await waitFor(async () => (await portal.services.requests.grantFor('dev:vera', machineId))?.requestId === id, { timeoutMs: 5_000, what: 'the grant' });
  return id;
}

test.each([
  ['VNC', 'an xterm', 'press-hmi', SHOW_KNOWN_WORDS],
  ['RDP', 'an xterm', 'scada-historian', SHOW_KNOWN_WORDS],
  ['VNC form', 'a form-like window (Tk labels and entry fields)', 'press-hmi', SHOW_KNOWN_WORDS_FORM],
])('%s: words shown in %s are found by the recordings search and in the timeline (recall ≥ 0.9)', async (name, _screen, machineId, show) => {
  const { vera, aude } = agents;
  const session = await openSession(vera, await grantFor(machineId));
  await session.tunnel.waitFor((i) => DRAWING.includes(i[0] ?? ''), 30_000, 'the machine’s screen');
  // Frames (the pointer moved to make them; no window manager on the VNC target: focus follows
  // it) until the machine's own clock (guacd's sync timestamps) has run past a moment: before
  // typing, so the xterm of a fresh RDP login is up; after, so the output is in the recording.
  const lastSync = (): number => Number(session.tunnel.instructions.findLast((i) => i[0] === 'sync')?.[1] ?? 0);
  let x = 0;
  const machineTime = async (ms: number, what: string): Promise<void> => {
    const from = lastSync();
    await waitFor(
      () => {
        session.tunnel.send('mouse', String(200 + (x++ % 2)), '200', '0');
        return lastSync() - from >= ms;
      },
      { timeoutMs: 20_000, what },
    );
  };
  await machineTime(2_000, 'the machine’s clock 2 s past its first screen');
  // Shown but never typed (screen-text.ts): only reading the screen can find them.
  session.tunnel.typeText(show);
  await machineTime(1_500, 'the machine’s clock 1.5 s past the command');
  await session.tunnel.close();
  await sessionEnd(aude, session.id);
  await waitFor(
    async () => {
      const audited = await portal.services.audit.query({ target: { type: 'session', id: session.id }, action: 'recording.screen_text_read', limit: 1 });
      return audited.events.length > 0;
    },
    { timeoutMs: 90_000, what: `the ${name} recording rendered and read` },
  );

  let found = 0;
  for (const word of KNOWN_WORDS) {
    const res = (await aude.get(`/api/recordings?q=${word}`)).json<{ recordings: Array<{ sessionId: string }> }>();
    if (res.recordings.some((r) => r.sessionId === session.id)) found++;
  }
  recalls[name] = found / KNOWN_WORDS.length;
  if (recalls[name] < 0.9) {
    // Say what was read, to tell an OCR miss from a screen that never showed the words.
    const timeline = (await aude.get(`/api/recordings/${session.id}/timeline`)).json<{ timeline: TimelineEntry[] }>().timeline;
    process.stdout.write(`${name} read: ${JSON.stringify(timeline.filter((e) => e.kind === 'screen'))}\n`);
  }
  expect(recalls[name]).toBeGreaterThanOrEqual(0.9);
  // A word that was never shown is not found.
  expect((await aude.get(`/api/recordings?q=zeppelin`)).json<{ recordings: Array<{ sessionId: string }> }>().recordings.map((r) => r.sessionId)).not.toContain(session.id);

  // The player's find searches the timeline: the words are there, at a moment within the session.
  const timeline = (await aude.get(`/api/recordings/${session.id}/timeline`)).json<{ timeline: TimelineEntry[] }>().timeline;
  const screen = timeline.filter((e) => e.kind === 'screen');
  if (!screen.some((e) => e.label.includes('turbine'))) process.stdout.write(`${name} timeline: ${JSON.stringify(timeline)}\n`);
  expect(screen.some((e) => e.label.includes('turbine'))).toBe(true);
  const summary = await portal.services.recordings.catalog.get(session.id);
  const length = Date.parse(summary?.endedAt ?? '') - Date.parse(summary?.startedAt ?? '');
  for (const e of screen) expect(e.t).toBeLessThanOrEqual(length + 1000);
}, 150_000);
