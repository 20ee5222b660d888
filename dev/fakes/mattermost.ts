// A fake Mattermost server (REST API v4: the bot's user, users, posts with interactive message
// attachments, post patches, direct channels, channels and memberships) and a fake user who
// clicks a button, which makes the "server" call the button's integration URL with its context,
// as Mattermost does. For the demo and the tests.
import { randomUUID } from 'node:crypto';
import { FakeServer, bearer } from './base.ts';

export interface MattermostAction {
  id: string;
  name: string;
  integration: { url: string; context: Record<string, unknown> };
}

export interface MattermostPost {
  id: string;
  channel_id: string;
  user_id: string;
  message: string;
  props: { attachments?: Array<{ title?: string; text?: string; actions?: MattermostAction[] }>; [k: string]: unknown };
  updates: number;
}

export interface MattermostUser {
  id: string;
  username: string;
  email?: string;
  deleted?: boolean;
}

export interface FakeMattermostOptions {
  botToken: string;
  teamId: string;
}

export interface MattermostClickOptions {
  /** Change the context before it is sent (an attacker's edit). */
  tamper?: (context: Record<string, unknown>) => Record<string, unknown>;
  /** Claim another post or channel than the one clicked. */
  postId?: string;
  channelId?: string;
  triggerId?: string;
}

/** Go's encoding/json writes map keys sorted: what Mattermost sends back is key-sorted. */
function sortedKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortedKeys);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sortedKeys(x)]));
  return v;
}

export class FakeMattermost {
  readonly server = new FakeServer();
  readonly options: FakeMattermostOptions;
  readonly botUserId = `bot${randomUUID().replace(/-/g, '').slice(0, 23)}`;
  readonly posts = new Map<string, MattermostPost>();
  readonly users = new Map<string, MattermostUser>();
  readonly channels = new Map<string, { id: string; type: 'O' | 'P' | 'D'; team_id: string; members: Set<string> }>();

  private constructor(options: FakeMattermostOptions) {
    this.options = options;
  }

  static async start(options: FakeMattermostOptions): Promise<FakeMattermost> {
    const fake = new FakeMattermost(options);
    fake.routes();
    await fake.server.listen();
    return fake;
  }

  addUser(user: MattermostUser): void {
    this.users.set(user.id, user);
  }

  addChannel(id: string, members: string[], opts: { teamId?: string; type?: 'O' | 'P' } = {}): void {
    this.channels.set(id, { id, type: opts.type ?? 'P', team_id: opts.teamId ?? this.options.teamId, members: new Set([this.botUserId, ...members]) });
  }

  private routes(): void {
    const authed = (handler: (body: unknown, params: string[]) => { status?: number; json: unknown }) => (call: Parameters<typeof bearer>[0], params: string[]) => {
      if (bearer(call) !== this.options.botToken) return { status: 401, json: { id: 'api.context.session_expired.app_error', status_code: 401 } };
      return handler(call.body, params);
    };
    const notFound = { status: 404, json: { status_code: 404 } };
    this.server.route('GET', /^\/api\/v4\/users\/me$/, authed(() => ({ json: { id: this.botUserId, username: 'airlock', is_bot: true, delete_at: 0 } })));
    this.server.route('GET', /^\/api\/v4\/users\/([^/]+)$/, authed((_b, [id = '']) => {
      const u = this.users.get(id);
      if (u === undefined) return notFound;
      return { json: { id: u.id, username: u.username, email: u.email ?? '', email_verified: u.email !== undefined, is_bot: false, delete_at: u.deleted === true ? Date.now() : 0 } };
    }));
    this.server.route('POST', /^\/api\/v4\/channels\/direct$/, authed((body) => {
      const [a = '', b = ''] = body as string[];
      const id = `dm${[a, b].sort().join('').slice(0, 24)}`;
      if (!this.channels.has(id)) this.channels.set(id, { id, type: 'D', team_id: '', members: new Set([a, b]) });
      return { status: 201, json: { id, type: 'D', team_id: '' } };
    }));
    this.server.route('GET', /^\/api\/v4\/channels\/([^/]+)$/, authed((_b, [id = '']) => {
      const c = this.channels.get(id);
      return c === undefined ? notFound : { json: { id: c.id, type: c.type, team_id: c.team_id } };
    }));
    this.server.route('GET', /^\/api\/v4\/channels\/([^/]+)\/members\/([^/]+)$/, authed((_b, [id = '', user = '']) => {
      const c = this.channels.get(id);
      return c === undefined || !c.members.has(user) ? notFound : { json: { channel_id: id, user_id: user } };
    }));
    this.server.route('POST', /^\/api\/v4\/posts$/, authed((body) => {
      const b = body as { channel_id: string; message: string; props: MattermostPost['props'] };
      if (!this.channels.has(b.channel_id)) return { status: 403, json: { status_code: 403 } };
      const post: MattermostPost = { id: randomUUID().replace(/-/g, '').slice(0, 26), channel_id: b.channel_id, user_id: this.botUserId, message: b.message, props: b.props, updates: 0 };
      this.posts.set(post.id, post);
      return { status: 201, json: { id: post.id, channel_id: post.channel_id, user_id: post.user_id } };
    }));
    this.server.route('GET', /^\/api\/v4\/posts\/([^/]+)$/, authed((_b, [id = '']) => {
      const p = this.posts.get(id);
      return p === undefined ? notFound : { json: { id: p.id, channel_id: p.channel_id, user_id: p.user_id, message: p.message, props: p.props } };
    }));
    this.server.route('PUT', /^\/api\/v4\/posts\/([^/]+)\/patch$/, authed((body, [id = '']) => {
      const p = this.posts.get(id);
      if (p === undefined) return notFound;
      const b = body as { message?: string; props?: MattermostPost['props'] };
      Object.assign(p, { message: b.message ?? p.message, props: b.props ?? p.props, updates: p.updates + 1 });
      return { json: { id } };
    }));
  }

  postsIn(channelId: string): MattermostPost[] {
    return [...this.posts.values()].filter((p) => p.channel_id === channelId);
  }

  static buttons(post: MattermostPost): string[] {
    return (post.props.attachments ?? []).flatMap((a) => a.actions ?? []).map((a) => a.id);
  }

  /** Clicks a button as `userId`: Mattermost POSTs the documented payload to the integration URL. */
  async click(post: MattermostPost, actionId: string, userId: string, opts: MattermostClickOptions = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    const action = (post.props.attachments ?? []).flatMap((a) => a.actions ?? []).find((a) => a.id === actionId);
    if (action === undefined) throw new Error(`no button ${actionId} on post ${post.id}`);
    const channel = this.channels.get(post.channel_id);
    const context = opts.tamper === undefined ? action.integration.context : opts.tamper({ ...action.integration.context });
    const payload = {
      user_id: userId,
      user_name: this.users.get(userId)?.username ?? '',
      channel_id: opts.channelId ?? post.channel_id,
      channel_name: '',
      team_id: channel?.team_id ?? '',
      team_domain: '',
      post_id: opts.postId ?? post.id,
      trigger_id: opts.triggerId ?? randomUUID(),
      type: '',
      data_source: '',
      context: sortedKeys(context),
    };
    const res = await fetch(action.integration.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    const text = await res.text();
    return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
