// A fake Slack Web API (chat.postMessage, chat.update, chat.postEphemeral, users.info,
// apps.connections.open) and a fake user who clicks Block Kit buttons, sending the documented
// `block_actions` interactivity payload: signed to the Request URL, or as a Socket Mode envelope
// over the WebSocket the portal opened (acks recorded). For the demo and the tests: no internet.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import { FakeServer, bearer, type RecordedCall } from './base.ts';
import { slackSignature } from '../../server/chat/signing.ts';

export interface SlackMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: SlackBlock[];
  /** How many times chat.update rewrote it. */
  updates: number;
}

export interface SlackBlock {
  type: string;
  elements?: Array<{ action_id?: string; value?: string; url?: string; text?: { text: string } }>;
  text?: { text: string };
  fields?: Array<{ text: string }>;
}

export interface SlackUser {
  id: string;
  teamId: string;
  email?: string;
  name?: string;
}

export interface FakeSlackOptions {
  botToken: string;
  signingSecret: string;
  teamId: string;
  appId: string;
  /** The app-level token (`xapp-…`) apps.connections.open accepts; without it Socket Mode is off. */
  appToken?: string;
}

/** A Socket Mode envelope as Slack sends it. */
export interface SocketEnvelope {
  envelope_id: string;
  type: string;
  accepts_response_payload: boolean;
  payload: Record<string, unknown>;
  retry_attempt?: number;
  retry_reason?: string;
}

export interface ClickOptions {
  /** Override what a well-behaved Slack would send, to play an attacker or a broken client. */
  timestamp?: number;
  signingSecret?: string;
  teamId?: string;
  appId?: string;
  /** Rewrite the payload after it is built (before signing). */
  tamper?: (payload: Record<string, unknown>) => void;
  /** Resend these exact signed bytes (a replay). */
  replay?: { body: string; timestamp: string; signature: string };
}

export interface ClickResult {
  status: number;
  text: string;
  signed: { body: string; timestamp: string; signature: string };
}

export class FakeSlack {
  readonly server = new FakeServer();
  readonly options: FakeSlackOptions;
  readonly messages = new Map<string, SlackMessage>();
  readonly ephemerals: Array<{ channel: string; user: string; text: string }> = [];
  readonly users = new Map<string, SlackUser>();
  /** Every Socket Mode acknowledgement received, in order. */
  readonly acks: Array<{ envelope_id: string; payload?: unknown }> = [];
  #ts = 1_700_000_000_000;
  readonly #wss = new WebSocketServer({ noServer: true });
  /** Unused connection tickets handed out by apps.connections.open (one use each, like Slack's). */
  readonly #tickets = new Set<string>();
  /** Open Socket Mode connections, oldest first. */
  readonly #sockets: WebSocket[] = [];

  private constructor(options: FakeSlackOptions) {
    this.options = options;
  }

  static async start(options: FakeSlackOptions): Promise<FakeSlack> {
    const fake = new FakeSlack(options);
    fake.routes();
    fake.socketMode();
    await fake.server.listen();
    return fake;
  }

  get apiUrl(): string {
    return `${this.server.url}/api`;
  }

  addUser(user: SlackUser): void {
    this.users.set(user.id, user);
  }

  private routes(): void {
    const authed = (handler: (body: Record<string, unknown>) => unknown) => (call: RecordedCall) => {
      if (bearer(call) !== this.options.botToken) return { json: { ok: false, error: 'invalid_auth' } };
      return { json: handler((call.body ?? {}) as Record<string, unknown>) };
    };
    this.server.route('POST', /^\/api\/chat\.postMessage$/, authed((b) => {
      let channel = String(b['channel']);
      // Posting to a user id lands in the app's direct-message conversation with them.
      if (channel.startsWith('U')) channel = `D${channel.slice(1)}`;
      const ts = `${Math.floor(++this.#ts / 1000)}.${String(this.#ts % 1000000).padStart(6, '0')}`;
      this.messages.set(`${channel}:${ts}`, { channel, ts, text: String(b['text']), blocks: b['blocks'] as SlackBlock[], updates: 0 });
      return { ok: true, channel, ts };
    }));
    this.server.route('POST', /^\/api\/chat\.update$/, authed((b) => {
      const message = this.messages.get(`${String(b['channel'])}:${String(b['ts'])}`);
      if (message === undefined) return { ok: false, error: 'message_not_found' };
      Object.assign(message, { text: String(b['text']), blocks: b['blocks'] as SlackBlock[], updates: message.updates + 1 });
      return { ok: true, channel: message.channel, ts: message.ts };
    }));
    this.server.route('POST', /^\/api\/chat\.postEphemeral$/, authed((b) => {
      this.ephemerals.push({ channel: String(b['channel']), user: String(b['user']), text: String(b['text']) });
      return { ok: true, message_ts: String(Date.now() / 1000) };
    }));
    this.server.route('POST', /^\/api\/apps\.connections\.open$/, (call) => {
      const token = bearer(call);
      if (token !== undefined && token === this.options.botToken) return { json: { ok: false, error: 'not_allowed_token_type' } };
      if (this.options.appToken === undefined || token !== this.options.appToken) return { json: { ok: false, error: 'invalid_auth' } };
      const ticket = randomUUID();
      this.#tickets.add(ticket);
      return { json: { ok: true, url: `${this.server.url.replace(/^http/, 'ws')}/link/?ticket=${ticket}&app_id=${this.options.appId}` } };
    });
    this.server.route('POST', /^\/api\/users\.info$/, authed((b) => {
      const user = this.users.get(String(b['user']));
      if (user === undefined) return { ok: false, error: 'user_not_found' };
      return { ok: true, user: { id: user.id, team_id: user.teamId, name: user.name ?? user.id, deleted: false, is_bot: false, profile: { email: user.email } } };
    }));
  }

  /** Messages posted to a channel (or a user's DM), oldest first. */
  messagesIn(channel: string): SlackMessage[] {
    const dm = channel.startsWith('U') ? `D${channel.slice(1)}` : channel;
    return [...this.messages.values()].filter((m) => m.channel === dm);
  }

  /** The action ids of a message's buttons (links excluded). */
  static buttons(m: SlackMessage): string[] {
    return m.blocks.flatMap((b) => b.elements ?? []).filter((e) => e.value !== undefined && e.action_id !== undefined).map((e) => e.action_id as string);
  }

  /** The `block_actions` payload Slack builds when `user` clicks `actionId` on `message`. */
  clickPayload(message: SlackMessage, actionId: string, user: SlackUser, opts: Pick<ClickOptions, 'teamId' | 'appId' | 'tamper'> = {}): Record<string, unknown> {
    const button = message.blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === actionId);
    if (button === undefined) throw new Error(`no button ${actionId} on message ${message.ts}`);
    const payload: Record<string, unknown> = {
      type: 'block_actions',
      api_app_id: opts.appId ?? this.options.appId,
      team: { id: opts.teamId ?? this.options.teamId, domain: 'plant' },
      user: { id: user.id, username: user.name ?? user.id, team_id: user.teamId },
      channel: { id: message.channel },
      message: { ts: message.ts, text: message.text },
      container: { type: 'message', message_ts: message.ts, channel_id: message.channel },
      trigger_id: `${Date.now()}.${Math.random().toString(36).slice(2)}`,
      response_url: `${this.server.url}/actions/response`,
      actions: [{ type: 'button', action_id: actionId, block_id: 'airlock_actions', value: button.value, action_ts: String(Date.now() / 1000) }],
    };
    opts.tamper?.(payload);
    return payload;
  }

  /** Clicks a button of a posted message as `user`, the way Slack calls the Request URL. */
  async click(requestUrl: string, message: SlackMessage, actionId: string, user: SlackUser, opts: ClickOptions = {}): Promise<ClickResult> {
    let signed = opts.replay;
    if (signed === undefined) {
      const body = new URLSearchParams({ payload: JSON.stringify(this.clickPayload(message, actionId, user, opts)) }).toString();
      const timestamp = String(opts.timestamp ?? Math.floor(Date.now() / 1000));
      signed = { body, timestamp, signature: slackSignature(opts.signingSecret ?? this.options.signingSecret, timestamp, body) };
    }
    const res = await fetch(requestUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': signed.timestamp, 'x-slack-signature': signed.signature },
      body: signed.body,
    });
    return { status: res.status, text: await res.text(), signed };
  }

  // ---- Socket Mode -------------------------------------------------------------------------

  private socketMode(): void {
    this.server.httpServer.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(req.url ?? '/', this.server.url);
      const ticket = url.searchParams.get('ticket') ?? '';
      // A ticket is good for one connection, as with Slack's.
      if (url.pathname !== '/link/' || !this.#tickets.delete(ticket)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      this.#wss.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
  }

  private onSocket(ws: WebSocket): void {
    this.#sockets.push(ws);
    this.server.note({ method: 'WS', path: '/socket/connected', headers: {}, body: { connections: this.#sockets.length } });
    ws.on('message', (data) => {
      let frame: { envelope_id?: unknown; payload?: unknown };
      try {
        frame = JSON.parse(String(data)) as typeof frame;
      } catch {
        return;
      }
      if (typeof frame.envelope_id !== 'string') return;
      const ack = { envelope_id: frame.envelope_id, ...(frame.payload === undefined ? {} : { payload: frame.payload }) };
      this.acks.push(ack);
      this.server.note({ method: 'WS', path: '/socket/ack', headers: {}, body: ack });
    });
    ws.on('close', () => {
      this.#sockets.splice(this.#sockets.indexOf(ws), 1);
      this.server.note({ method: 'WS', path: '/socket/closed', headers: {}, body: { connections: this.#sockets.length } });
    });
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.#sockets.length,
        debug_info: { host: 'applink-fake', build_number: 1, approximate_connection_time: 18060 },
        connection_info: { app_id: this.options.appId },
      }),
    );
  }

  /** Open Socket Mode connections. */
  get socketConnections(): number {
    return this.#sockets.length;
  }

  /** Sends an envelope on the newest connection (Slack picks one of the app's connections). */
  sendEnvelope(envelope: SocketEnvelope): void {
    const ws = this.#sockets.at(-1);
    if (ws === undefined) throw new Error('no Socket Mode connection to send on');
    ws.send(JSON.stringify(envelope));
  }

  /** `user` clicks `actionId` on `message`, delivered as an `interactive` envelope; returns it (to redeliver). */
  socketClick(message: SlackMessage, actionId: string, user: SlackUser, opts: Pick<ClickOptions, 'teamId' | 'appId' | 'tamper'> = {}): SocketEnvelope {
    const envelope: SocketEnvelope = { envelope_id: randomUUID(), type: 'interactive', accepts_response_payload: false, payload: this.clickPayload(message, actionId, user, opts) };
    this.sendEnvelope(envelope);
    return envelope;
  }

  /** Slack's retry of an envelope it thinks was not acknowledged: same envelope, next attempt. */
  redeliver(envelope: SocketEnvelope): void {
    this.sendEnvelope({ ...envelope, retry_attempt: (envelope.retry_attempt ?? 0) + 1, retry_reason: 'timeout' });
  }

  /** Asks every open connection to reconnect, as Slack does before recycling a server. */
  requestDisconnect(reason: 'refresh_requested' | 'warning' | 'link_disabled' = 'refresh_requested'): void {
    for (const ws of this.#sockets) ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } }));
  }

  /** Cuts every connection without a word (a network drop). */
  dropConnections(): void {
    for (const ws of [...this.#sockets]) ws.terminate();
  }

  /** Waits for the acknowledgement of an envelope. */
  async untilAck(envelopeId: string, timeoutMs = 5_000): Promise<void> {
    await this.server.until((c) => c.path === '/socket/ack' && (c.body as { envelope_id: string }).envelope_id === envelopeId, `the ack of ${envelopeId}`, timeoutMs);
  }

  /** How many times apps.connections.open has been called successfully. */
  get connectionsOpened(): number {
    return this.server.calls.filter((c) => c.path === '/api/apps.connections.open' && bearer(c) === this.options.appToken).length;
  }

  /** How many ephemeral replies `user` has had so far. */
  ephemeralCount(user: string): number {
    return this.ephemerals.filter((e) => e.user === user).length;
  }

  /** Waits for `user`'s ephemeral reply number `seen` + 1 (the portal sends it after acknowledging the click). */
  async ephemeralAfter(user: string, seen: number, timeoutMs = 5_000): Promise<string> {
    await this.server.until(() => this.ephemeralCount(user) > seen, `ephemeral reply ${seen + 1} to ${user}`, timeoutMs);
    return this.ephemerals.filter((e) => e.user === user)[seen]?.text ?? '';
  }

  async close(): Promise<void> {
    for (const ws of [...this.#sockets]) ws.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await this.server.close();
  }
}
