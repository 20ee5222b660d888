// Slack Socket Mode: for plants without inbound internet, the portal opens a WebSocket to Slack
// (apps.connections.open with the app-level token) and receives interactivity envelopes over it
// instead of on the HTTP Request URL. Every envelope is acknowledged at once; its payload goes
// to the adapter's usual handling. Drops are reconnected with backoff; stop() closes the socket.
import { WebSocket, type RawData } from 'ws';
import type { Logger } from 'pino';
import { z } from 'zod';
import { callJson } from './http.ts';
import { errorMessage } from '../errors.ts';

/** First reconnect delay: a dropped link is usually back at once; this spares a tight loop. */
export const RECONNECT_MIN_MS = 1_000;
/** Ceiling of the doubling: apps.connections.open is rate-limited (Tier 1), a minute stays well inside it. */
export const RECONNECT_MAX_MS = 60_000;
/** Slack pings about every 30 s without the portal hearing it; we ping too, to find half-open links. */
const HEARTBEAT_MS = 30_000;
/** Slack's hello comes within a second or two; a socket that says nothing by then is dropped. */
const HELLO_TIMEOUT_MS = 15_000;
/** An envelope is a few KB; ws refuses anything larger than this before parsing it. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

const openAnswer = z.object({ ok: z.boolean(), url: z.string().optional(), error: z.string().optional() });

/** What Slack sends over the socket (the parts we read). */
const frameSchema = z.object({
  type: z.string(),
  envelope_id: z.string().min(1).max(256).optional(),
  reason: z.string().optional(),
  payload: z.unknown().optional(),
});

export type SocketModeStatus = 'connecting' | 'connected' | 'reconnecting' | 'stopped' | 'disabled';

export interface SocketModeOptions {
  appToken: string;
  /** Slack's Web API base (https://slack.com/api, or the local fake's). */
  apiUrl: string;
  log: Logger;
  /** An `interactive` envelope's payload, after the envelope was acknowledged. Must not throw. */
  onInteractive(payload: unknown): Promise<void>;
}

/** One WebSocket link to Slack; a refresh replaces it with a new one. */
interface Link {
  socket: WebSocket;
  /** Set when this link has been replaced or stopped: its close must not trigger a reconnect. */
  retired: boolean;
  alive: boolean;
  heartbeat: NodeJS.Timeout | undefined;
  helloTimer: NodeJS.Timeout | undefined;
}

export class SlackSocketMode {
  readonly #opts: SocketModeOptions;
  #link: Link | undefined;
  #status: SocketModeStatus = 'stopped';
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;
  #stopped = true;
  /** Links being replaced after a refresh: kept open (no gap in delivery) until the new one says hello. */
  readonly #older = new Set<Link>();
  /** Handlers of envelopes in flight, so stop() can let them finish. */
  readonly #inFlight = new Set<Promise<void>>();

  constructor(opts: SocketModeOptions) {
    this.#opts = opts;
  }

  get status(): SocketModeStatus {
    return this.#status;
  }

  /** Connects in the background: a Slack outage at start-up must not stop the portal. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#status = 'connecting';
    void this.connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#status = 'stopped';
    clearTimeout(this.#retry);
    const links = [...this.#older, ...(this.#link === undefined ? [] : [this.#link])];
    this.#older.clear();
    this.#link = undefined;
    await Promise.all(links.map((l) => this.retire(l)));
    await Promise.all(this.#inFlight);
  }

  /** Opens a fresh connection URL and a socket on it; on failure, schedules the next attempt. */
  private async connect(): Promise<void> {
    if (this.#stopped) return;
    let url: string;
    try {
      url = await this.openUrl();
    } catch (err) {
      this.#opts.log.warn({ err: { message: errorMessage(err) }, attempt: this.#attempt }, 'slack socket mode: apps.connections.open failed');
      this.scheduleReconnect();
      return;
    }
    if (this.#stopped) return;
    let socket: WebSocket;
    try {
      socket = new WebSocket(url, { maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: HELLO_TIMEOUT_MS });
    } catch (err) {
      this.#opts.log.warn({ err: { message: errorMessage(err) } }, 'slack socket mode: cannot open the socket');
      this.scheduleReconnect();
      return;
    }
    const link: Link = { socket, retired: false, alive: true, heartbeat: undefined, helloTimer: undefined };
    link.helloTimer = setTimeout(() => {
      this.#opts.log.warn('slack socket mode: no hello, dropping the connection');
      socket.terminate();
    }, HELLO_TIMEOUT_MS);
    socket.on('message', (data: RawData, isBinary: boolean) => this.onFrame(link, data, isBinary));
    socket.on('pong', () => (link.alive = true));
    socket.on('ping', () => (link.alive = true));
    // 'error' is always followed by 'close'; handling it keeps ws from throwing it at the process.
    socket.on('error', (err: Error) => this.#opts.log.warn({ err: { message: err.message } }, 'slack socket mode: socket error'));
    socket.on('close', (code: number) => {
      clearTimeout(link.helloTimer);
      clearInterval(link.heartbeat);
      if (link.retired || this.#stopped || this.#link !== link) return;
      this.#opts.log.warn({ code }, 'slack socket mode: connection dropped');
      this.#link = undefined;
      this.scheduleReconnect();
    });
    this.#link = link;
  }

  private async openUrl(): Promise<string> {
    const { apiUrl, appToken } = this.#opts;
    const answer = await callJson('slack', 'apps.connections.open', `${apiUrl}/apps.connections.open`, openAnswer, {
      method: 'POST',
      headers: { authorization: `Bearer ${appToken}` },
      body: new URLSearchParams(),
    });
    if (!answer.ok || answer.url === undefined) throw new Error(`apps.connections.open: ${answer.error ?? 'no url'}`);
    if (!socketUrlAllowed(answer.url, apiUrl)) throw new Error('apps.connections.open: the URL is not wss://');
    return answer.url;
  }

  private scheduleReconnect(): void {
    if (this.#stopped) return;
    this.#status = 'reconnecting';
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.#attempt);
    // Full jitter: many portals cut off by one outage do not all come back in the same second.
    const delay = RECONNECT_MIN_MS / 2 + Math.random() * (ceiling - RECONNECT_MIN_MS / 2);
    this.#attempt++;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.connect(), delay);
  }

  private onFrame(link: Link, data: RawData, isBinary: boolean): void {
    link.alive = true;
    if (isBinary) return;
    let frame: z.infer<typeof frameSchema>;
    try {
      frame = frameSchema.parse(JSON.parse(String(data)));
    } catch {
      this.#opts.log.warn('slack socket mode: unreadable frame ignored');
      return;
    }
    // Acknowledge first: Slack retries anything not acknowledged within 3 s.
    if (frame.envelope_id !== undefined) link.socket.send(JSON.stringify({ envelope_id: frame.envelope_id }));
    switch (frame.type) {
      case 'hello':
        return this.onHello(link);
      case 'disconnect':
        return this.onDisconnect(link, frame.reason);
      case 'interactive': {
        const handled = this.#opts.onInteractive(frame.payload).finally(() => this.#inFlight.delete(handled));
        this.#inFlight.add(handled);
        return;
      }
      default:
        // events_api and slash_commands: this app subscribes to neither; the ack is all they get.
        return;
    }
  }

  private onHello(link: Link): void {
    clearTimeout(link.helloTimer);
    if (link.retired) return;
    this.#attempt = 0;
    this.#status = 'connected';
    link.heartbeat = setInterval(() => {
      if (!link.alive) {
        this.#opts.log.warn('slack socket mode: no sign of life, dropping the connection');
        link.socket.terminate();
        return;
      }
      link.alive = false;
      link.socket.ping();
    }, HEARTBEAT_MS);
    link.heartbeat.unref();
    // Any older link (a refresh in progress) can go now that this one receives.
    for (const old of this.#older) void this.retire(old);
    this.#older.clear();
    this.#opts.log.info('slack socket mode: connected');
  }

  private onDisconnect(link: Link, reason: string | undefined): void {
    if (link.retired || this.#link !== link) return;
    if (reason === 'link_disabled') {
      // Socket Mode was turned off for the app: reconnecting would only be refused again.
      this.#opts.log.error('slack socket mode: disabled for this app in Slack (link_disabled); not reconnecting');
      this.#stopped = true;
      this.#status = 'disabled';
      this.#link = undefined;
      void this.retire(link);
      return;
    }
    // refresh_requested, warning (and anything new): open the next connection before this one goes.
    this.#opts.log.info({ reason }, 'slack socket mode: refreshing the connection');
    this.#older.add(link);
    this.#link = undefined;
    void this.connect();
  }

  private retire(link: Link): Promise<void> {
    link.retired = true;
    clearTimeout(link.helloTimer);
    clearInterval(link.heartbeat);
    const { socket } = link;
    if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
      else socket.close(1000);
    });
  }
}

/** wss:// always; ws:// only on loopback when the Web API itself is the loopback fake (demo, tests). */
export function socketUrlAllowed(url: string, apiUrl: string): boolean {
  if (url.startsWith('wss://')) return true;
  const loopback = (u: string) => /^(http|ws):\/\/(localhost|127\.0\.0\.1)(:\d+)?(\/|$)/.test(u);
  return url.startsWith('ws://') && loopback(url) && loopback(apiUrl);
}
