// SIEM forwarding against real local syslog listeners (UDP datagrams, TCP and TLS with RFC 6587
// octet counting): exact RFC 5424 + CEF messages for events appended by AuditLog.append and by
// the request Lua scripts, in stream order; catching up after the receiver was down; resuming
// from the cursor after a restart; one forwarder among several instances; config errors.
import { afterEach, describe, expect, test } from '@jest/globals';
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { ConfigError, loadConfig } from '../server/config.ts';
import { AuditLog } from '../server/audit/store.ts';
import type { AuditEventInput } from '../server/audit/schema.ts';
import { keys } from '../server/keys.ts';
import type { PluginContext } from '../server/plugins/contract.ts';
import { siemPluginFactory } from '../server/siem/plugin.ts';
import { UDP_MAX_MESSAGE_BYTES } from '../server/siem/transport.ts';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { loginAs } from './support/http.ts';
import { redisDbUrl } from './support/services.ts';
import { createRequest, seedDemoPlant } from './support/workflow.ts';
import { waitFor } from './support/wait.ts';

const DB = 12;
const WAIT = { timeoutMs: 20_000 };

// ---------------------------------------------------------------------------------------------
// Listeners

interface Listener {
  readonly port: number;
  /** Every message received, in arrival order. */
  readonly messages: string[];
  /** Raw byte lengths of the messages (UDP: datagram size). */
  readonly sizes: number[];
  stop(): Promise<void>;
}

async function udpListener(): Promise<Listener> {
  const socket = dgram.createSocket('udp4');
  const messages: string[] = [];
  const sizes: number[] = [];
  socket.on('message', (msg) => {
    messages.push(msg.toString('utf8'));
    sizes.push(msg.length);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, messages, sizes, stop: () => new Promise((resolve) => socket.close(() => resolve())) };
}

/** Splits RFC 6587 octet-counted frames (`LEN SP MSG`); anything else is a framing error. */
class OctetCountingParser {
  #buffer = Buffer.alloc(0);
  readonly errors: string[] = [];

  push(chunk: Buffer, onMessage: (msg: Buffer) => void): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const space = this.#buffer.indexOf(0x20);
      if (space < 0) return;
      const len = this.#buffer.subarray(0, space).toString('ascii');
      if (!/^[1-9]\d{0,8}$/.test(len)) {
        this.errors.push(`bad frame length ${JSON.stringify(len)}`);
        this.#buffer = Buffer.alloc(0);
        return;
      }
      const end = space + 1 + Number(len);
      if (this.#buffer.length < end) return;
      onMessage(this.#buffer.subarray(space + 1, end));
      this.#buffer = this.#buffer.subarray(end);
    }
  }
}

async function streamListener(opts: { port?: number; tls?: { key: string; cert: string }; messages?: string[] } = {}): Promise<Listener & { framingErrors: string[] }> {
  const messages = opts.messages ?? [];
  const sizes: number[] = [];
  const framingErrors: string[] = [];
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    const parser = new OctetCountingParser();
    socket.on('data', (chunk: Buffer) =>
      parser.push(chunk, (msg) => {
        messages.push(msg.toString('utf8'));
        sizes.push(msg.length);
      }),
    );
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      framingErrors.push(...parser.errors);
    });
  };
  const server = opts.tls === undefined ? net.createServer(onSocket) : tls.createServer(opts.tls, onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    messages,
    sizes,
    framingErrors,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Parsing what arrived

const RFC5424 =
  /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) ([\x21-\x7e]{1,255}) ([\x21-\x7e]{1,48}) ([\x21-\x7e]{1,128}) ([\x21-\x7e]{1,32}) \[airlock@32473 seq="(\d+)" hash="([0-9a-f]{64})" id="(\d+-\d+)"\] (CEF:0\|[\s\S]*)$/;

interface Received {
  pri: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  seq: number;
  hash: string;
  streamId: string;
  cef: string;
  /** version, vendor, product, device version, signature, name, severity. */
  header: string[];
  ext: Record<string, string>;
}

function unescapeCef(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
}

function parseMessage(message: string): Received {
  const m = RFC5424.exec(message);
  if (m === null) throw new Error(`not an RFC 5424 message with our structured data: ${JSON.stringify(message.slice(0, 300))}`);
  const cef = m[10] ?? '';
  // The header: seven `|`-terminated fields, `\|` and `\\` escaped.
  const header: string[] = [];
  let i = 0;
  let field = '';
  while (header.length < 7) {
    const c = cef[i];
    if (c === undefined) throw new Error(`CEF header cut short: ${cef}`);
    if (c === '\\') {
      field += cef[i + 1] ?? '';
      i += 2;
    } else if (c === '|') {
      header.push(field);
      field = '';
      i++;
    } else {
      field += c;
      i++;
    }
  }
  const ext: Record<string, string> = {};
  for (const match of cef.slice(i).matchAll(/([A-Za-z0-9]+)=((?:\\.|[^\\=])*?)(?= [A-Za-z0-9]+=|$)/g)) {
    ext[match[1] ?? ''] = unescapeCef(match[2] ?? '');
  }
  return {
    pri: Number(m[1]),
    timestamp: m[2] ?? '',
    hostname: m[3] ?? '',
    appName: m[4] ?? '',
    procId: m[5] ?? '',
    msgId: m[6] ?? '',
    seq: Number(m[7]),
    hash: m[8] ?? '',
    streamId: m[9] ?? '',
    cef,
    header,
    ext,
  };
}

interface StreamRow {
  id: string;
  seq: number;
  hash: string;
  event: { action: string; outcome: string; actor: { id: string; name: string } | null; site: string | null };
}

async function streamRows(portal: TestPortal): Promise<StreamRow[]> {
  const entries = await portal.redis.xRange(keys.audit.stream, '-', '+');
  return entries.map((e) => ({
    id: e.id,
    seq: Number(e.message['seq']),
    hash: e.message['hash'] ?? '',
    event: JSON.parse(e.message['event'] ?? '{}') as StreamRow['event'],
  }));
}

/** Seqs in order of first arrival. */
function firstArrivals(messages: readonly string[]): number[] {
  const seen = new Set<number>();
  const order: number[] = [];
  for (const m of messages) {
    const { seq } = parseMessage(m);
    if (!seen.has(seq)) order.push(seq);
    seen.add(seq);
  }
  return order;
}

function event(action: string, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return { actor: { id: 'dev:siem-test', name: 'SIEM test' }, action, target: null, outcome: 'ok', reason: null, details: {}, site: 'site-a', ...extra };
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

function syslogEnv(url: string, extra: Record<string, string> = {}): Record<string, string> {
  return { AIRLOCK_SYSLOG_URL: url, ...extra };
}

// ---------------------------------------------------------------------------------------------

describe('UDP', () => {
  test('events from AuditLog.append and from request transitions arrive in stream order as exact RFC 5424 + CEF', async () => {
    const listener = await udpListener();
    cleanup.push(() => listener.stop());
    const portal = await startTestPortal(syslogEnv(`udp://127.0.0.1:${listener.port}`, { AIRLOCK_INSTANCE_ID: 'siem-udp-1', AIRLOCK_SYSLOG_FACILITY: 'local4' }), { freshDb: DB });
    cleanup.push(() => portal.close());
    expect(portal.services.plugins.map((p) => p.name)).toContain('siem');
    await seedDemoPlant(portal);
    const [vera, mona] = await Promise.all([loginAs(portal.publicUrl, 'vera'), loginAs(portal.publicUrl, 'mona')]);

    const hostileName = 'Eve | =\\ "] \nnewline';
    const hostileReason = 'pipe|equals=backslash\\ end\nsecond line';
    await portal.services.audit.append(event('test.hostile_input', { actor: { id: 'dev:eve', name: hostileName }, reason: hostileReason, outcome: 'refused' }));
    const id = await createRequest(vera, { machineId: 'cnc-07' });
    expect((await vera.post(`/api/requests/${id}/approve`, {})).status).toBe(403); // own request: refused, audited by Lua
    expect((await mona.post(`/api/requests/${id}/approve`, { comment: 'ok' })).status).toBe(200);
    // Over the 8 KiB datagram limit once escaped (every `=` doubles), with multi-byte characters to cut.
    await portal.services.audit.append(event('test.oversized', { details: { blob: '€=='.repeat(1_300) } }));

    await waitFor(async () => listener.messages.length === (await portal.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'every audit entry as a datagram' });
    const rows = await streamRows(portal);
    const received = listener.messages.map(parseMessage);
    expect(received.map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
    expect(received.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    const actions = rows.map((r) => r.event.action);
    expect(actions).toEqual(expect.arrayContaining(['test.hostile_input', 'request.created', 'request.approve', 'request.approved', 'test.oversized']));
    expect(actions.indexOf('request.created')).toBeLessThan(actions.indexOf('request.approved'));

    for (const [i, r] of received.entries()) {
      const row = rows[i];
      if (row === undefined) throw new Error('missing row');
      expect(r).toMatchObject({ hash: row.hash, streamId: row.id, appName: 'airlock', procId: 'siem-udp-1', msgId: row.event.action.slice(0, 32) });
      expect(r.header.slice(0, 3)).toEqual(['CEF:0', 'Airlock', 'Airlock']);
      expect(r.header[3]).toMatch(/^\d+\.\d+\.\d+/);
      expect(r.header[4]).toBe(row.event.action);
      expect(r.ext).toMatchObject({ act: row.event.action, outcome: row.event.outcome, cs3Label: 'seq', cs3: String(row.seq), externalId: row.id });
      if (row.event.actor !== null) expect(r.ext).toMatchObject({ suid: row.event.actor.id, suser: row.event.actor.name });
      const severity = row.event.outcome === 'refused' ? 5 : 3;
      expect(r.header[6]).toBe(String(severity));
      expect(r.pri).toBe(20 * 8 + (severity === 5 ? 5 : 6)); // local4
    }

    const approved = received[actions.indexOf('request.approved')];
    expect(approved?.ext).toMatchObject({ suser: 'Mona Manager', cs1Label: 'site', cs1: 'site-a', cs2Label: 'target', cs2: `request:${id}` });
    expect(approved?.header[5]).toBe('Request approved');
    expect(received[actions.indexOf('request.approve')]?.header.slice(4)).toEqual(['request.approve', 'Request approve refused', '5']);

    const hostile = received[actions.indexOf('test.hostile_input')];
    const raw = listener.messages[actions.indexOf('test.hostile_input')] ?? '';
    expect(raw).not.toContain('\n');
    expect(raw).toContain('suser=Eve | \\=\\\\ "] \\nnewline ');
    expect(raw).toContain('reason=pipe|equals\\=backslash\\\\ end\\nsecond line ');
    expect(hostile?.ext).toMatchObject({ suser: hostileName, reason: hostileReason, outcome: 'refused' });

    const oversized = actions.indexOf('test.oversized');
    expect(listener.sizes[oversized]).toBeLessThanOrEqual(UDP_MAX_MESSAGE_BYTES);
    expect(listener.sizes[oversized]).toBeGreaterThanOrEqual(UDP_MAX_MESSAGE_BYTES - 4);
    expect(Buffer.byteLength(listener.messages[oversized] ?? '', 'utf8')).toBe(listener.sizes[oversized]); // no broken UTF-8
    expect(received[oversized]?.ext['act']).toBe('test.oversized');

    expect(await portal.redis.get(keys.siem.cursor)).toBe(rows.at(-1)?.id);
  });
});

describe('TCP', () => {
  test('a receiver down for a while gets every missed event, in order, once it is back; a restart resumes from the cursor', async () => {
    const messages: string[] = [];
    let listener = await streamListener({ messages });
    const port = listener.port;
    cleanup.push(() => listener.stop());
    const env = syslogEnv(`tcp://127.0.0.1:${port}`);
    let portal = await startTestPortal(env, { freshDb: DB });
    cleanup.push(() => portal.close());
    await seedDemoPlant(portal);
    const vera = await loginAs(portal.publicUrl, 'vera');
    for (const n of [1, 2, 3]) await portal.services.audit.append(event('test.before_outage', { details: { n } }));
    await waitFor(async () => new Set(firstArrivals(messages)).size === (await portal.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'events before the outage' });

    await listener.stop();
    for (const n of [1, 2, 3, 4, 5]) await portal.services.audit.append(event('test.during_outage', { details: { n } }));
    await createRequest(vera, { machineId: 'cnc-07' }); // the portal keeps working; request.created via Lua
    await waitFor(() => portal.logLines.some((l) => l.includes('send failed')), { ...WAIT, what: 'the failed send to be logged' });
    const cursorDuringOutage = await portal.redis.get(keys.siem.cursor);
    const rowsSoFar = await streamRows(portal);
    expect(cursorDuringOutage).not.toBe(rowsSoFar.at(-1)?.id);

    listener = await streamListener({ port, messages });
    await waitFor(async () => new Set(firstArrivals(messages)).size === (await portal.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'the missed events' });
    let rows = await streamRows(portal);
    expect(firstArrivals(messages)).toEqual(rows.map((r) => r.seq)); // in order, no gap
    for (const m of messages) {
      const r = parseMessage(m);
      expect(r.hash).toBe(rows[r.seq - 1]?.hash); // a replayed frame is the same message again
    }
    expect(rows.map((r) => r.event.action)).toContain('request.created');
    await waitFor(async () => (await portal.redis.get(keys.siem.cursor)) === rows.at(-1)?.id, { ...WAIT, what: 'the cursor to reach the end' });
    expect(portal.logLines.some((l) => l.includes('receiver reachable again'))).toBe(true);
    const logged = portal.logLines.filter((l) => l.includes('"plugin":"siem"')).join('\n');
    expect(logged).toContain(`tcp://127.0.0.1:${port}`);

    // Restart: events appended while no portal runs go out, and nothing before the cursor again.
    await portal.close();
    const redis = createClient({ url: redisDbUrl(DB) });
    await redis.connect();
    const audit = new AuditLog(redis);
    for (const n of [1, 2]) await audit.append(event('test.while_stopped', { details: { n } }));
    redis.destroy();
    const before = messages.length;
    portal = await startTestPortal({ ...env, AIRLOCK_REDIS_URL: redisDbUrl(DB) });
    await waitFor(async () => new Set(firstArrivals(messages)).size === (await portal.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'events appended while stopped' });
    rows = await streamRows(portal);
    expect(messages.slice(before).map((m) => parseMessage(m).seq)).toEqual(rows.slice(-2).map((r) => r.seq));
    expect(listener.framingErrors).toEqual([]);
  });

  test('TLS: octet-counted frames over a verified connection', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airlock-siem-tls-'));
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
    const listener = await streamListener({ tls: { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') } });
    cleanup.push(() => listener.stop());
    const portal = await startTestPortal(syslogEnv(`tls://127.0.0.1:${listener.port}`, { AIRLOCK_SYSLOG_CA_FILE: certFile }), { freshDb: DB });
    cleanup.push(() => portal.close());
    await portal.services.audit.append(event('test.over_tls'));
    await waitFor(async () => listener.messages.length === (await portal.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'the TLS message' });
    expect(parseMessage(listener.messages[0] ?? '').ext['act']).toBe('test.over_tls');
  });
});

describe('several portal instances', () => {
  test('only the lock holder forwards: each event arrives once; the other takes over when it stops', async () => {
    const listener = await udpListener();
    cleanup.push(() => listener.stop());
    const url = `udp://127.0.0.1:${listener.port}`;
    const a = await startTestPortal(syslogEnv(url, { AIRLOCK_INSTANCE_ID: 'siem-a' }), { freshDb: DB });
    const b = await startTestPortal(syslogEnv(url, { AIRLOCK_INSTANCE_ID: 'siem-b', AIRLOCK_REDIS_URL: redisDbUrl(DB) }));
    const open = new Set([a, b]);
    cleanup.push(async () => {
      for (const p of open) await p.close();
    });
    for (let n = 0; n < 10; n++) await (n % 2 === 0 ? a : b).services.audit.append(event('test.two_instances', { details: { n } }));
    await waitFor(async () => listener.messages.length >= (await a.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'the first ten events' });
    const lock = (await a.redis.get(keys.siem.lock)) ?? '';
    const holderId = lock.split('/')[0];
    expect(['siem-a', 'siem-b']).toContain(holderId);
    const [holder, standby] = holderId === 'siem-a' ? [a, b] : [b, a];
    const standbyId = holderId === 'siem-a' ? 'siem-b' : 'siem-a';

    await holder.close();
    open.delete(holder);
    for (let n = 10; n < 15; n++) await standby.services.audit.append(event('test.after_takeover', { details: { n } }));
    await waitFor(async () => listener.messages.length >= (await standby.redis.xLen(keys.audit.stream)), { ...WAIT, what: 'the events after the takeover' });

    const rows = await streamRows(standby);
    const received = listener.messages.map(parseMessage);
    expect(received.map((r) => r.seq)).toEqual(rows.map((r) => r.seq)); // each exactly once, in order
    expect(received.filter((r) => r.seq <= 10).every((r) => r.procId === holderId)).toBe(true);
    expect(received.filter((r) => r.seq > 10).every((r) => r.procId === standbyId)).toBe(true);
    expect((await standby.redis.get(keys.siem.lock))?.startsWith(`${standbyId}/`)).toBe(true);
  });
});

describe('configuration', () => {
  const base = { NODE_ENV: 'test', AIRLOCK_MODE: 'test', AIRLOCK_REDIS_URL: 'redis://127.0.0.1:1', AIRLOCK_INSECURE_HTTP_COOKIES: 'true' };

  test.each(['syslog.example:514', 'http://siem.example:514', 'udp://siem.example', 'tcp://:514', 'tcp://siem.example:0', 'udp://user:pw@siem.example:514', 'tcp://siem.example:514/x', 'garbage'])(
    'AIRLOCK_SYSLOG_URL=%s is an error naming the variable',
    (url) => {
      let error: unknown;
      try {
        loadConfig({ ...base, AIRLOCK_SYSLOG_URL: url });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('AIRLOCK_SYSLOG_URL');
      expect((error as ConfigError).message).toContain('udp://host:port');
    },
  );

  test('valid receivers, facilities and app names', () => {
    expect(loadConfig({ ...base, AIRLOCK_SYSLOG_URL: 'udp://siem.example:514' }).siem).toEqual({ protocol: 'udp', host: 'siem.example', port: 514, appName: 'airlock', facility: 10, caPem: undefined });
    expect(loadConfig({ ...base, AIRLOCK_SYSLOG_URL: 'tls://[::1]:6514', AIRLOCK_SYSLOG_FACILITY: 'local3', AIRLOCK_SYSLOG_APP_NAME: 'airlock-plant1' }).siem).toMatchObject({ protocol: 'tls', host: '::1', port: 6514, facility: 19, appName: 'airlock-plant1' });
    expect(loadConfig({ ...base, AIRLOCK_SYSLOG_URL: 'tcp://10.0.0.5:601', AIRLOCK_SYSLOG_FACILITY: '4' }).siem?.facility).toBe(4);
    expect(loadConfig(base).siem).toBeUndefined();
    for (const [variable, value] of [['AIRLOCK_SYSLOG_FACILITY', 'mailbox'], ['AIRLOCK_SYSLOG_FACILITY', '24'], ['AIRLOCK_SYSLOG_APP_NAME', 'air lock'], ['AIRLOCK_SYSLOG_CA_FILE', '/etc/ssl/ca.pem']] as const) {
      expect(() => loadConfig({ ...base, AIRLOCK_SYSLOG_URL: 'tcp://siem.example:601', [variable]: value })).toThrow(new RegExp(`^${variable}: `));
    }
  });

  test('without AIRLOCK_SYSLOG_URL the plugin is off', async () => {
    // The factory reads only ctx.config when it is off; the rest of the context is never touched.
    const ctx = { config: loadConfig(base) } as unknown as PluginContext;
    expect(await siemPluginFactory()(ctx)).toBeUndefined();
  });

  test('the portal process stops with one line naming AIRLOCK_SYSLOG_URL', () => {
    const main = path.resolve(import.meta.dirname, '../server/app/main.ts');
    const result = spawnSync(process.execPath, [main], { env: { PATH: process.env['PATH'] ?? '', ...base, AIRLOCK_SYSLOG_URL: 'syslog.example:514' }, encoding: 'utf8', timeout: 15_000 });
    expect(result.status).toBe(1);
    expect(result.stderr.trim()).toBe('airlock: configuration error: AIRLOCK_SYSLOG_URL: expected udp://host:port, tcp://host:port or tls://host:port');
  });
});
