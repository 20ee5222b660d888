// Issue 15: text shown in graphical sessions is found by the recordings search and the player's
// find. Real VNC and RDP sessions (an xterm at 1024×768) show known words; the renderer worker
// reads the screen with tesseract; the test measures recall (words found by search ÷ words
// shown) and checks that the timeline has the moment each word appeared.
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import type { TestPortal } from './support/portal.ts';
import { startPlantPortal, type PlantPortal } from './support/plant-portal.ts';
import { Browserless, loginByName } from './support/http.ts';
import { sessionEnd } from './support/workflow.ts';
import { openOnPlant } from './support/tunnel.ts';
import { waitFor } from './support/wait.ts';
import type { TimelineEntry } from '../recordings/service.ts';
import { BUSY_WORDS, FORM_WORDS, KNOWN_WORDS, SHOW_BUSY_WORDS, SHOW_FORM_WORDS, SHOW_KNOWN_WORDS } from './support/screen-text.ts';

let plant: PlantPortal;
let portal: TestPortal;
let agents: Record<'vera' | 'victor' | 'mona' | 'bruno' | 'olga' | 'aude', Browserless>;
const recalls: Record<string, number> = {};

beforeAll(async () => {
  plant = await startPlantPortal('ocr', { freshDb: 14, store: true, env: { AIRLOCK_MAX_SESSIONS_PER_USER: '10', AIRLOCK_RENDER_WORKER: 'inprocess' } });
  portal = plant.portal;
  agents = await loginByName(portal.publicUrl, 'vera', 'victor', 'mona', 'bruno', 'olga', 'aude');
});

afterAll(async () => {
  await plant?.close();
  process.stdout.write(`ocr recall: ${JSON.stringify(recalls)}\n`);
});

test.each([
  ['VNC', 'an xterm', 'press-hmi', SHOW_KNOWN_WORDS, KNOWN_WORDS],
  ['RDP', 'an xterm', 'scada-historian', SHOW_KNOWN_WORDS, KNOWN_WORDS],
  ['VNC form', 'a form-like window (Tk labels and entry fields)', 'press-hmi', SHOW_FORM_WORDS, FORM_WORDS],
  // Regression: a read kept only its first 500 characters, so a busy screen's later words were never searchable.
  ['VNC busy screen', 'a terminal after 900 characters of other text', 'press-hmi', SHOW_BUSY_WORDS, BUSY_WORDS],
])('%s: words shown in %s are found by the recordings search and in the timeline (recall ≥ 0.9)', async (name, _screen, machineId, show, words) => {
  const { aude } = agents;
  const session = await openOnPlant(portal, agents, machineId);
  // Before typing, so the xterm of a fresh RDP login is up; after, so the output is in the recording.
  await session.tunnel.machineTimePasses(2_000, 'the machine’s clock 2 s past its first screen');
  // Shown but never typed (screen-text.ts): only reading the screen can find them.
  session.tunnel.typeText(show);
  // A window takes longer to draw than a line of output, on a busy machine more so.
  await session.tunnel.machineTimePasses(3_000, 'the machine’s clock 3 s past the command');
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
  for (const word of words) {
    const res = (await aude.get(`/api/recordings?q=${word}`)).json<{ recordings: Array<{ sessionId: string }> }>();
    if (res.recordings.some((r) => r.sessionId === session.id)) found++;
  }
  recalls[name] = found / words.length;
  if (recalls[name] < 0.9) {
    // Say what was read, to tell an OCR miss from a screen that never showed the words.
    const timeline = (await aude.get(`/api/recordings/${session.id}/timeline`)).json<{ timeline: TimelineEntry[] }>().timeline;
    process.stdout.write(`${name} read: ${JSON.stringify(timeline.filter((e) => e.kind === 'screen'))}\n`);
  }
  expect(recalls[name]).toBeGreaterThanOrEqual(0.9);
  // A word that was never shown is not found.
  expect((await aude.get(`/api/recordings?q=zeppelin`)).json<{ recordings: Array<{ sessionId: string }> }>().recordings.map((r) => r.sessionId)).not.toContain(session.id);

  // The player's find searches the timeline (a label, or the whole text it starts): the words are there, at a moment within the session.
  const timeline = (await aude.get(`/api/recordings/${session.id}/timeline`)).json<{ timeline: TimelineEntry[] }>().timeline;
  const screen = timeline.filter((e) => e.kind === 'screen');
  const first = words[0] ?? '';
  if (!screen.some((e) => (e.detail ?? e.label).includes(first))) process.stdout.write(`${name} timeline: ${JSON.stringify(timeline)}\n`);
  expect(screen.some((e) => (e.detail ?? e.label).includes(first))).toBe(true);
  const summary = await portal.services.recordings.catalog.get(session.id);
  const length = Date.parse(summary?.endedAt ?? '') - Date.parse(summary?.startedAt ?? '');
  for (const e of screen) expect(e.t).toBeLessThanOrEqual(length + 1000);
}, 150_000);
