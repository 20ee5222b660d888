// Security (1), containment: one client cannot hurt the others. Malformed WebSocket frames,
// a quadratic parse, an in-band resize, too many sessions and floods of refused upgrades each
// stay with the client that caused them (issue "Security (1)", items 1–5).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAll } from './support/http.ts';
import { grantNow, seedDemoPlant, sessionEnd, sessionTicket } from './support/workflow.ts';
import { openSession, openTunnel, type Tunnel } from './support/tunnel.ts';
import { frame, OPCODE, writeRaw } from './support/frames.ts';
import { waitFor } from './support/wait.ts';
import { GuacParser, encodeInstruction } from '../sessions/tunnel/protocol.ts';
import { InputPolicy } from '../sessions/input-policy.ts';
import { SpoolFiles } from '../recordings/layout.ts';
import type { AuditEvent } from '../server/audit/schema.ts';

const WAIT = { timeoutMs: 15_000 };
let portal: TestPortal;
let spool: string;
let vera: Browserless;
let victor: Browserless;
let mona: Browserless;
let aude: Browserless;
let veraSsh: string;
let victorSsh: string;



/** Another session keeps working: typing still draws output. */
async function stillAlive(tunnel: Tunnel): Promise<void> {
  const before = tunnel.outputBytes;
  tunnel.typeText('echo still-alive\n');
  await waitFor(() => tunnel.outputBytes > before, { ...WAIT, what: 'output on the bystander session' });
}

beforeAll(async () => {
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-containment-spool-'));
  portal = await startTestPortal(
    { AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_REFUSAL_AUDIT_WINDOW_MS: '1000', AIRLOCK_MAX_SESSIONS_PER_USER: '1' },
    { freshDb: 6 },
  );
  await seedDemoPlant(portal, { targets: true });
  [vera, victor, mona, aude] = await loginAll(portal.publicUrl, 'vera', 'victor', 'mona', 'aude');
  veraSsh = await grantNow(portal, vera, mona, 'cnc-07');
  victorSsh = await grantNow(portal, victor, mona, 'cnc-07');
});

afterAll(async () => {
  await portal?.close();
  rmSync(spool, { recursive: true, force: true });
});

describe('a malformed WebSocket frame ends its own connection, audited, and nothing else', () => {
  let bystander: { id: string; tunnel: Tunnel };
  beforeAll(async () => {
    bystander = await openSession(victor, victorSsh);
  });
  afterAll(async () => bystander?.tunnel.close());

  const cases: Array<[string, Buffer, string]> = [
    ['a text frame with invalid UTF-8', frame({ opcode: OPCODE.text, payload: Buffer.from([0x34, 0x2e, 0xff, 0xfe, 0xfd, 0xfc, 0x3b]) }), 'WS_ERR_INVALID_UTF8'],
    ['a frame over the payload limit', frame({ opcode: OPCODE.text, payload: Buffer.alloc(1024 * 1024 + 1, 0x61) }), 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'],
    ['RSV1 set without a negotiated extension', frame({ opcode: OPCODE.text, payload: Buffer.from('3.nop;'), rsv1: true }), 'WS_ERR_UNEXPECTED_RSV_1'],
    ['an unmasked client frame', frame({ opcode: OPCODE.text, payload: Buffer.from('3.nop;'), masked: false }), 'WS_ERR_EXPECTED_MASK'],
    ['a lone continuation frame', frame({ opcode: OPCODE.continuation, payload: Buffer.from('3.nop;') }), 'WS_ERR_INVALID_OPCODE'],
    ['a close frame with an invalid code', frame({ opcode: OPCODE.close, payload: Buffer.from([0x03, 0xed]) }), 'WS_ERR_INVALID_CLOSE_CODE'],
    ['an oversized ping', frame({ opcode: OPCODE.ping, payload: Buffer.alloc(200, 0x70) }), 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'],
  ];

  test.each(cases)('%s', async (_name, bytes, code) => {
    const victim = await openSession(vera, veraSsh);
    writeRaw(victim.tunnel.ws, bytes);
    await victim.tunnel.closed;
    expect(await sessionEnd(aude, victim.id)).toMatchObject({ action: 'session.ended', reason: 'protocol_error', details: { detail: code } });
    await stillAlive(bystander.tunnel);
    expect((await new Browserless(portal.publicUrl).get('/healthz')).status).toBe(200);
  });
});

describe('the Guacamole parser is linear and bounded', () => {
  test('each character is examined once, however finely the input is split', () => {
    const element = 'a'.repeat(2_000_000);
    const input = encodeInstruction('clipboard', element);
    const parser = new GuacParser({ maxInstructionLength: 4_000_000, maxElements: 128 });
    const out: string[][] = [];
    for (let i = 0; i < input.length; i += 1024) out.push(...parser.push(input.slice(i, i + 1024)));
    expect(out).toHaveLength(1);
    expect(out[0]?.[1]?.length).toBe(element.length);
    expect(parser.examined).toBe(input.length);
  });

  test('surrogate pairs split across chunks stay one code point', () => {
    const input = encodeInstruction('key', 'a😀b');
    for (let at = 1; at < input.length; at++) {
      const parser = new GuacParser();
      expect([...parser.push(input.slice(0, at)), ...parser.push(input.slice(at))]).toEqual([['key', 'a😀b']]);
    }
  });

  test('an element longer than guacd accepts ends the connection at its length prefix, with a message', async () => {
    const victim = await openSession(vera, veraSsh);
    victim.tunnel.ws.send('9.clipboard,2000000.');
    for (let i = 0; i < 20 && victim.tunnel.ws.readyState === victim.tunnel.ws.OPEN; i++) victim.tunnel.ws.send('a'.repeat(1024));
    expect(await victim.tunnel.errorMessage()).toBe('The browser sent data Airlock could not accept; the session was ended.');
    await victim.tunnel.closed;
    expect(await sessionEnd(aude, victim.id)).toMatchObject({ reason: 'protocol_error', details: { detail: expect.stringContaining('longer than 8192') } });
  });
});

describe('an in-band resize is clamped like the query string', () => {
  test('the policy rewrites 30000×30000 to the display bounds', () => {
    const instruction = ['size', '30000', '30000'];
    expect(new InputPolicy({ clipboardCopy: true, clipboardPaste: true, fileTransfer: false, readOnly: false }, false).decide(instruction)).toEqual({ allow: true });
    expect(instruction).toEqual(['size', '4096', '2160']);
  });

  test('what reaches guacd (and the input log) is the clamped size', async () => {
    const session = await openSession(vera, veraSsh);
    session.tunnel.send('size', '30000', '30000');
    const log = new SpoolFiles(spool, session.id).file('events');
    await waitFor(() => readFileSync(log, 'utf8').includes('"type":"size"'), { ...WAIT, what: 'the resize in the input log' });
    expect(readFileSync(log, 'utf8')).toContain('"type":"size","width":4096,"height":2160');
    await session.tunnel.close();
  });
});

describe('caps on concurrent sessions', () => {
  test('a second open of the same grant takes over the first, which is told why', async () => {
    const first = await openSession(vera, veraSsh);
    const second = await openSession(vera, veraSsh);
    expect(await first.tunnel.errorMessage()).toBe('This session was opened again in another window; this one was closed.');
    await first.tunnel.closed;
    expect(await sessionEnd(aude, first.id)).toMatchObject({ reason: 'taken_over' });
    await stillAlive(second.tunnel);
    await second.tunnel.close();
  });

  test('more sessions than a user may hold are refused with their own code', async () => {
    const vnc = await grantNow(portal, vera, mona, 'press-hmi');
    const a = await openSession(vera, veraSsh);
    const second = await openTunnel(vera, { ticket: (await sessionTicket(vera, vnc)).ticket });
    expect(second).toMatchObject({ ok: false, status: 429 });
    if (!second.ok) expect(JSON.parse(second.body)).toMatchObject({ error: { code: 'too_many_sessions' } });
    await a.tunnel.close();
  });

  // Regression: the cap check awaits Redis, and upgrades in flight at the same moment all saw
  // the same empty instance, so a vendor opening several at once held more than the cap.
  test('upgrades opened at the same moment cannot hold more sessions than the cap', async () => {
    // victor's (the other tests here open vera's sessions, and a session's end takes a moment to count).
    const grants = [victorSsh, await grantNow(portal, victor, mona, 'press-hmi')];
    const tickets = await Promise.all(grants.map(async (g) => (await sessionTicket(victor, g)).ticket));
    const results = await Promise.all(tickets.map((ticket) => openTunnel(victor, { ticket })));
    try {
      expect(results.filter((r) => r.ok)).toHaveLength(1); // AIRLOCK_MAX_SESSIONS_PER_USER is 1 here
      for (const r of results) if (!r.ok) expect({ status: r.status, body: JSON.parse(r.body) }).toMatchObject({ status: 429, body: { error: { code: 'too_many_sessions' } } });
    } finally {
      for (const r of results) if (r.ok) await r.tunnel.close();
    }
  });

  test.each([
    ['per guacd', { AIRLOCK_MAX_SESSIONS_PER_GUACD: '1' }, 503, 'guacd_busy'],
    ['per portal instance', { AIRLOCK_MAX_SESSIONS_PER_INSTANCE: '1' }, 503, 'instance_busy'],
  ])('the cap %s refuses the next session with its own code', async (_name, env, status, code) => {
    const small = await startTestPortal(env, { freshDb: 9 });
    try {
      await seedDemoPlant(small, { targets: true });
      const [v, w, m] = await loginAll(small.publicUrl, 'vera', 'victor', 'mona');
      const one = await openSession(v, await grantNow(small, v, m, 'cnc-07'));
      const next = await openTunnel(w, { ticket: (await sessionTicket(w, await grantNow(small, w, m, 'cnc-07'))).ticket });
      expect(next).toMatchObject({ ok: false, status });
      if (!next.ok) expect(JSON.parse(next.body)).toMatchObject({ error: { code } });
      await one.tunnel.close();
    } finally {
      await small.close();
    }
  });
});

describe('floods of refused upgrades', () => {
  test('300 anonymous upgrades are turned away early and audited as a handful of events with a count', async () => {
    const anonymous = new Browserless(portal.publicUrl);
    const statuses: number[] = [];
    for (let round = 0; round < 15; round++) {
      const results = await Promise.all(Array.from({ length: 20 }, () => openTunnel(anonymous, { ticket: 'x'.repeat(43), origin: 'https://evil.example', cookie: null })));
      for (const r of results) statuses.push(r.ok ? 101 : r.status);
    }
    expect(statuses.filter((s) => s === 403).length).toBe(30);
    expect(statuses.filter((s) => s === 429).length).toBe(270);
    // Individually audited: the first few of each reason; the rest as aggregates once the window closes.
    const anonymousRefusals = async (): Promise<AuditEvent[]> =>
      (await aude.get('/api/audit?action=session.upgrade&limit=500')).json<{ events: AuditEvent[] }>().events.filter((e) => e.actor === null);
    const counted = (events: AuditEvent[]): number => events.reduce((n, e) => n + (typeof e.details['aggregated'] === 'number' ? e.details['aggregated'] : 1), 0);
    await waitFor(async () => counted(await anonymousRefusals()) === 300, { ...WAIT, what: 'the aggregated refusals' });
    const events = await anonymousRefusals();
    expect(events.length).toBeLessThanOrEqual(12);
    expect(new Set(events.map((e) => e.reason))).toEqual(new Set(['bad_origin', 'too_many_attempts']));
    // A signed-in user on the same address still gets in: the budget is per source.
    const session = await openSession(vera, veraSsh);
    await session.tunnel.close();
  });
});
