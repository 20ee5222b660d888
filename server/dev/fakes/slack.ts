// A fake Slack Web API (chat.postMessage, chat.update, chat.postEphemeral, users.info) and a
// fake user who clicks Block Kit buttons, sending the documented signed `block_actions`
// interactivity payload. For the demo and the tests: no internet.
import { FakeServer, bearer, type RecordedCall } from './base.ts';
import { slackSignature } from '../../chat/signing.ts';

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
  #ts = 1_700_000_000_000;

  private constructor(options: FakeSlackOptions) {
    this.options = options;
  }

  static async start(options: FakeSlackOptions): Promise<FakeSlack> {
    const fake = new FakeSlack(options);
    fake.routes();
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

  /** Clicks a button of a posted message as `user`, the way Slack calls the Request URL. */
  async click(requestUrl: string, message: SlackMessage, actionId: string, user: SlackUser, opts: ClickOptions = {}): Promise<ClickResult> {
    let signed = opts.replay;
    if (signed === undefined) {
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
      const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
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

  /** How many ephemeral replies `user` has had so far. */
  ephemeralCount(user: string): number {
    return this.ephemerals.filter((e) => e.user === user).length;
  }

  /** Waits for `user`'s ephemeral reply number `seen` + 1 (the portal sends it after acknowledging the click). */
  async ephemeralAfter(user: string, seen: number, timeoutMs = 5_000): Promise<string> {
    await this.server.until(() => this.ephemeralCount(user) > seen, `ephemeral reply ${seen + 1} to ${user}`, timeoutMs);
    return this.ephemerals.filter((e) => e.user === user)[seen]?.text ?? '';
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
