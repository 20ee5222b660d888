// A Guacamole client over the portal's real WebSocket tunnel, as the browser's would be: for
// tests that drive sessions without a browser (refusals, floods, revoke, window end).
import WebSocket from 'ws';
import net from 'node:net';
import { encodeInstruction, GuacParser, type GuacInstruction } from '../../sessions/tunnel/protocol.ts';
import type { Browserless } from './http.ts';
import type { Portal } from '../../server/app/portal.ts';
import { grantOnPlant, sessionTicket, type PlantCrew } from './workflow.ts';
import { waitFor } from './wait.ts';

export interface TunnelOptions {
  ticket?: string;
  query?: string;
  origin?: string | null;
  cookie?: string | null;
}

export type UpgradeResult = { ok: true; tunnel: Tunnel } | { ok: false; status: number; body: string };

/** Instructions that draw the machine's screen. */
export const DRAWING = ['img', 'png', 'rect', 'cfill', 'copy'];

/** Keysyms for plain ASCII are their code points; Enter is 0xFF0D. */
const KEYSYM_ENTER = 65293;

export class Tunnel {
  readonly ws: WebSocket;
  readonly instructions: GuacInstruction[] = [];
  private readonly parser = new GuacParser();
  private readonly waiters: Array<{ match: (i: GuacInstruction) => boolean; resolve: (i: GuacInstruction) => void }> = [];
  readonly closed: Promise<{ code: number }>;
  outputBytes = 0;

  constructor(ws: WebSocket) {
    this.ws = ws;
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code })));
    ws.on('message', (data: Buffer) => {
      this.outputBytes += data.length;
      for (const instruction of this.parser.push(data.toString('utf8'))) {
        // Like Guacamole.Client: acknowledge every frame, or guacd stops sending.
        if (instruction[0] === 'sync') this.send('sync', instruction[1] ?? '');
        this.instructions.push(instruction);
        for (let i = this.waiters.length - 1; i >= 0; i--) {
          const w = this.waiters[i];
          if (w !== undefined && w.match(instruction)) {
            this.waiters.splice(i, 1);
            w.resolve(instruction);
          }
        }
      }
    });
  }

  send(opcode: string, ...args: string[]): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(encodeInstruction(opcode, ...args));
  }

  /** Resolves with the first (past or future) instruction that matches. */
  waitFor(match: (i: GuacInstruction) => boolean, timeoutMs = 20_000, what = 'an instruction'): Promise<GuacInstruction> {
    const seen = this.instructions.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (i) => {
          clearTimeout(timer);
          resolve(i);
        },
      });
      void this.closed.then(({ code }) =>
        setTimeout(() => {
          // Say why, when the server said: its last `error` instruction and the close code.
          const said = this.instructions.filter((i) => i[0] === 'error').map((i) => `${i[1] ?? ''} (${i[2] ?? ''})`);
          reject(new Error(`tunnel closed (code ${code}) while waiting for ${what}${said.length > 0 ? `: ${said.join('; ')}` : ''}`));
        }, 50),
      );
    });
  }

  firstFrame(timeoutMs?: number): Promise<GuacInstruction> {
    return this.waitFor((i) => i[0] === 'sync', timeoutMs, 'the first frame');
  }

  /** The first instruction that draws the machine's screen (a first frame may draw nothing yet). */
  screenDrawn(timeoutMs = 30_000): Promise<GuacInstruction> {
    return this.waitFor((i) => DRAWING.includes(i[0] ?? ''), timeoutMs, 'the machine’s screen');
  }

  /**
   * Frames until the machine's own clock (guacd's sync timestamps) has run `ms` past the last
   * frame seen now. The pointer moves to make them (a VNC screen that does not change sends no
   * frames; with no window manager on the VNC target, focus follows the pointer).
   */
  async machineTimePasses(ms: number, what: string, timeoutMs = 20_000): Promise<void> {
    const lastSync = (): number => Number(this.instructions.findLast((i) => i[0] === 'sync')?.[1] ?? 0);
    const from = lastSync();
    let x = 0;
    await waitFor(
      () => {
        this.send('mouse', String(200 + (x++ % 2)), '200', '0');
        return lastSync() - from >= ms;
      },
      { timeoutMs, what },
    );
  }

  /** The `error` instruction the server sends before it ends a session. */
  errorMessage(timeoutMs?: number): Promise<string> {
    return this.waitFor((i) => i[0] === 'error', timeoutMs, 'an error instruction').then((i) => i[1] ?? '');
  }

  typeText(text: string): void {
    for (const ch of text) {
      const keysym = ch === '\n' ? KEYSYM_ENTER : (ch.codePointAt(0) ?? 0);
      this.send('key', String(keysym), '1');
      this.send('key', String(keysym), '0');
    }
  }

  close(): Promise<{ code: number }> {
    this.ws.close();
    return this.closed;
  }
}

/** Opens /tunnel on `base` with the agent's cookie and our Origin unless told otherwise. */
export function openTunnel(agent: Browserless, opts: TunnelOptions = {}): Promise<UpgradeResult> {
  const url = new URL('/tunnel', agent.base.replace(/^http/, 'ws'));
  const query = opts.query ?? `ticket=${encodeURIComponent(opts.ticket ?? '')}&width=1024&height=768&dpi=96`;
  const headers: Record<string, string> = {};
  const origin = opts.origin === undefined ? new URL(agent.base).origin : opts.origin;
  if (origin !== null) headers['origin'] = origin;
  const cookie = opts.cookie === undefined ? agent.cookieHeader() : opts.cookie;
  if (cookie !== null && cookie !== '') headers['cookie'] = cookie;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.toString()}?${query}`, 'guacamole', { headers });
    ws.once('open', () => resolve({ ok: true, tunnel: new Tunnel(ws) }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
    });
    ws.once('error', (err) => reject(err));
  });
}

/**
 * A TCP proxy in front of the real guacd that counts the connections that asked guacd to reach
 * a machine (sent `connect`): the proof that a refused upgrade never dialled a machine. The
 * portal's own health handshakes (`select` → `args`, nothing more) are not counted.
 */
export class CountingGuacdProxy {
  connections = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  private constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      let seen = '';
      let counted = false;
      client.on('data', (chunk: Buffer) => {
        if (counted) return;
        seen = (seen + chunk.toString('utf8')).slice(-4096);
        if (seen.includes('7.connect,')) {
          counted = true;
          this.connections++;
        }
      });
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
  }

  static async start(target: { host: string; port: number }): Promise<CountingGuacdProxy> {
    const proxy = new CountingGuacdProxy(target);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', () => resolve()));
    const address = proxy.server.address();
    proxy.port = typeof address === 'object' && address !== null ? address.port : 0;
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A ticket for the grant, the tunnel, and its first frame: a session ready to use. */
export async function openSession(agent: Browserless, grant: string): Promise<{ id: string; tunnel: Tunnel }> {
  const { ticket, id } = await sessionTicket(agent, grant);
  const opened = await openTunnel(agent, { ticket });
  if (!opened.ok) throw new Error(`tunnel refused: ${opened.status} ${opened.body}`);
  await opened.tunnel.firstFrame();
  return { id, tunnel: opened.tunnel };
}

/** A grant on a demo machine, through the approvals the plant asks for it, and its session once the machine's screen is drawn. */
export async function openOnPlant(portal: Portal, crew: PlantCrew, machineId: string): Promise<{ id: string; tunnel: Tunnel }> {
  const { vendor, grant } = await grantOnPlant(portal, crew, machineId);
  const session = await openSession(vendor, grant);
  await session.tunnel.screenDrawn();
  return session;
}

/** Asks to watch the session, opens the watch tunnel and waits for its first frame: an observer in place. */
export async function watchSession(agent: Browserless, sessionId: string): Promise<Tunnel> {
  const res = await agent.post(`/api/sessions/${sessionId}/watch`, {});
  if (res.status !== 200) throw new Error(`watch refused (${res.status}): ${res.text}`);
  const opened = await openTunnel(agent, { ticket: res.json<{ ticket: string }>().ticket });
  if (!opened.ok) throw new Error(`watch tunnel refused ${opened.status}`);
  await opened.tunnel.firstFrame();
  return opened.tunnel;
}
