// Regression tests for the guacamole-lite 1.2.0 defects LAB.md lists, as Airlock uses it
// (sessions/transport.ts plus patches/guacamole-lite+1.2.0.patch). guacd is replaced by a local
// fake only where a real guacd cannot misbehave on demand (malformed output, split UTF-8).
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, loginAs } from './support/http.ts';
import { grantNow, seedDemoPlant, sessionTicket } from './support/workflow.ts';
import { openTunnel } from './support/tunnel.ts';
import { encodeInstruction, GuacParser } from '../sessions/tunnel/protocol.ts';
import { waitFor } from './support/wait.ts';

/** A stand-in guacd that completes the handshake, then does what the test says. */
class FakeGuacd {
  readonly server: net.Server;
  port = 0;
  afterReady: (socket: net.Socket) => void = () => undefined;
  /** false: answer `connect` with nothing, like a guacd child that hangs in set-up (LAB.md). */
  sendReady = true;
  connections = 0;

  constructor() {
    this.server = net.createServer((socket) => {
      this.connections++;
      const parser = new GuacParser();
      socket.on('error', () => socket.destroy());
      socket.on('data', (data) => {
        for (const [opcode] of parser.push(data.toString('utf8'))) {
          if (opcode === 'select') socket.write(encodeInstruction('args', 'VERSION_1_3_0', 'hostname', 'port', 'password'));
          if (opcode === 'connect' && this.sendReady) {
            socket.write(encodeInstruction('ready', '$fake-connection'));
            this.afterReady(socket);
          }
        }
      });
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    const address = this.server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
  }
}

let fake: FakeGuacd;
let portal: TestPortal;
let spool: string;
let vera: Browserless;
let requestId: string;
const listenersBefore = { SIGTERM: process.listenerCount('SIGTERM'), SIGINT: process.listenerCount('SIGINT') };

beforeAll(async () => {
  fake = new FakeGuacd();
  await fake.start();
  spool = mkdtempSync(path.join(tmpdir(), 'airlock-glite-'));
  portal = await startTestPortal(
    { AIRLOCK_GUACD: `127.0.0.1:${fake.port}`, AIRLOCK_RECORDING_SPOOL: spool, AIRLOCK_RECORDING_MIN_FREE_MB: '1', AIRLOCK_SESSION_READY_TIMEOUT_MS: '1500' },
    { freshDb: 10 },
  );
  await seedDemoPlant(portal, { targets: true });
  vera = await loginAs(portal.publicUrl, 'vera');
  const mona = await loginAs(portal.publicUrl, 'mona');
  requestId = await grantNow(portal, vera, mona, 'press-hmi');
});

afterAll(async () => {
  await portal?.close();
  fake?.server.close();
  rmSync(spool, { recursive: true, force: true });
});

async function session() {
  const result = await openTunnel(vera, { ticket: (await sessionTicket(vera, requestId)).ticket });
  if (!result.ok) throw new Error(`refused ${result.status}`);
  return result.tunnel;
}

describe('guacamole-lite as Airlock runs it', () => {
  test('malformed guacd output ends that connection only (it used to throw out of the parser)', async () => {
    // A non-numeric element length: guacamole-lite's parser throws on it.
    fake.afterReady = (socket) => socket.write('4.sync,3.123;x.garbage;');
    const tunnel = await session();
    await tunnel.closed;
    expect((await new Browserless(portal.publicUrl).get('/healthz')).status).toBe(200);
    expect((await vera.get('/api/me')).status).toBe(200);
  });

  test('a UTF-8 character split across two guacd reads arrives intact', async () => {
    const text = 'Düsseldorf Presse ✓';
    const instruction = Buffer.from(encodeInstruction('name', text));
    const cut = instruction.indexOf(Buffer.from('ü')) + 1; // inside the two bytes of ü
    fake.afterReady = (socket) => {
      socket.setNoDelay(true);
      socket.write(instruction.subarray(0, cut));
      setTimeout(() => socket.write(instruction.subarray(cut)), 200);
    };
    const tunnel = await session();
    const name = await tunnel.waitFor((i) => i[0] === 'name', 5_000, 'the name instruction');
    expect(name[1]).toBe(text);
    await tunnel.close();
  });

  test('the browser learns Airlock’s session id, never guacd’s connection id (the key to join)', async () => {
    fake.afterReady = () => undefined;
    const { ticket, id } = await sessionTicket(vera, requestId);
    const result = await openTunnel(vera, { ticket });
    if (!result.ok) throw new Error('refused');
    const uuid = await result.tunnel.waitFor((i) => i[0] === '', 5_000, 'the tunnel uuid');
    expect(uuid[1]).toBe(id);
    expect(JSON.stringify(result.tunnel.instructions)).not.toContain('fake-connection');
    await result.tunnel.close();
  });

  test('a set-up that never reaches ready is abandoned with a clear message, and audited', async () => {
    fake.sendReady = false;
    try {
      const { ticket, id } = await sessionTicket(vera, requestId);
      const result = await openTunnel(vera, { ticket });
      if (!result.ok) throw new Error('refused');
      expect(await result.tunnel.errorMessage(5_000)).toBe('The machine did not answer in time; try again.');
      await result.tunnel.closed;
      const aude = await loginAs(portal.publicUrl, 'aude');
      await waitFor(async () => (await aude.get(`/api/audit?target=session:${id}`)).json<{ events: Array<{ action: string; reason: string }> }>().events.some((e) => e.action === 'session.failed' && e.reason === 'ready_timeout'), {
        timeoutMs: 5_000,
        what: 'the audit event',
      });
    } finally {
      fake.sendReady = true;
    }
  });

  test('it installs no signal handlers and writes nothing to the console', async () => {
    const log = jest.spyOn(console, 'log');
    const error = jest.spyOn(console, 'error');
    fake.afterReady = (socket) => socket.destroy();
    const tunnel = await session();
    await tunnel.closed;
    expect(process.listenerCount('SIGTERM')).toBe(listenersBefore.SIGTERM);
    expect(process.listenerCount('SIGINT')).toBe(listenersBefore.SIGINT);
    expect(log).not.toHaveBeenCalled();
    expect(error).not.toHaveBeenCalled();
    log.mockRestore();
    error.mockRestore();
  });
});
