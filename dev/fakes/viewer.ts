// The demo's chat page (AIRLOCK_DEMO_CHAT=fakes): each fake platform's channels and direct
// messages as one of the demo's users sees them — Slack, Microsoft Teams, Mattermost — with the
// buttons working. A click is sent to the portal exactly as the platform would (Slack signs it,
// Teams sends a signed token, Mattermost the button's context), and the platform's private reply
// (a link code, "You approved …") shows under the message. For the demo and tests only.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { demoEntraObjectId } from '../../server/auth/dev-idp.ts';
import { SLACK_INTERACTIONS_PATH } from '../../server/chat/slack.ts';
import type { FakeSlack, SlackMessage, SlackUser } from './slack.ts';
import type { FakeTeams, TeamsCard, TeamsUser } from './teams.ts';
import type { FakeMattermost, MattermostPost } from './mattermost.ts';

/** The portal's Teams messaging endpoint (server/chat/teams.ts). */
const TEAMS_MESSAGES_PATH = '/chat/teams/messages';
/** The page asks this often whether anything changed (then reloads itself). */
const POLL_MS = 1_500;

export interface DemoChatUser {
  username: string;
  name: string;
  describes: string;
}

export interface ChatViewerDeps {
  slack: FakeSlack;
  teams: FakeTeams;
  mattermost: FakeMattermost;
  /** Where the portal is (clicks go there); known once it listens. */
  portalUrl: () => string;
  users: readonly DemoChatUser[];
  /** Each platform's approvers' channels, by label. */
  channels: { slack: Record<string, string>; teams: Record<string, string>; mattermost: Record<string, string> };
  tenantId: string;
}

type Platform = 'slack' | 'teams' | 'mattermost';

interface Reply {
  platform: Platform;
  user: string;
  messageId: string;
  text: string;
  at: number;
}

/** The identities the demo's users have on each fake platform. */
export function slackUser(u: DemoChatUser, teamId: string): SlackUser {
  return { id: `U${u.username.toUpperCase()}`, teamId, name: u.username };
}
export function teamsUser(u: DemoChatUser, tenantId: string): TeamsUser {
  return { id: `29:${u.username}`, aadObjectId: demoEntraObjectId(u.username), name: u.name, tenantId };
}
export const mattermostUserId = (u: DemoChatUser): string => `mm${u.username}`;

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** Slack mrkdwn and Mattermost markdown, enough for the portal's messages: *bold*, [label](url), line breaks. */
function markup(text: string): string {
  return esc(text)
    .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, (_m, label: string, url: string) => `<a href="${url}" target="_blank" rel="noopener">${label}</a>`)
    .replace(/\*([^*\n]+)\*/g, '<strong>$1</strong>')
    .replace(/\n/g, '<br>');
}

export class ChatViewer {
  readonly #deps: ChatViewerDeps;
  readonly #server: http.Server;
  readonly #replies: Reply[] = [];
  /** Bumped by every click; the page also watches the fakes' own call counts. */
  #clicks = 0;
  #url = '';

  constructor(deps: ChatViewerDeps) {
    this.#deps = deps;
    this.#server = http.createServer((req, res) => void this.handle(req, res));
  }

  get url(): string {
    return this.#url;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.#url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** Changes whenever anything on the page could have: the page reloads when it does. */
  private version(): string {
    const { slack, teams, mattermost } = this.#deps;
    return `${slack.server.calls.length}.${teams.server.calls.length}.${mattermost.server.calls.length}.${this.#clicks}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://viewer');
    try {
      if (req.method === 'GET' && url.pathname === '/version') {
        res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end(this.version());
        return;
      }
      if (req.method === 'POST' && url.pathname === '/click') {
        const form = new URLSearchParams(await body(req));
        await this.click(form);
        res.writeHead(303, { location: `/?as=${encodeURIComponent(form.get('as') ?? '')}#${encodeURIComponent(form.get('message') ?? '')}` }).end();
        return;
      }
      if (req.method === 'GET' && url.pathname === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(this.page(url.searchParams.get('as')));
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`the click failed: ${(err as Error).message}`);
    }
  }

  private user(username: string | null): DemoChatUser | undefined {
    return this.#deps.users.find((u) => u.username === username);
  }

  /** Sends the click as the platform would, and keeps the platform's private answer for the page. */
  private async click(form: URLSearchParams): Promise<void> {
    const user = this.user(form.get('as'));
    const platform = form.get('platform');
    const messageId = form.get('message') ?? '';
    const action = form.get('action') ?? '';
    if (user === undefined) throw new Error('choose who you are first');
    const { slack, teams, mattermost, portalUrl, tenantId } = this.#deps;
    this.#clicks++;
    let text = '';
    if (platform === 'slack') {
      const message = slack.messages.get(messageId);
      if (message === undefined) throw new Error('no such Slack message');
      const who = slackUser(user, slack.options.teamId);
      const seen = slack.ephemeralCount(who.id);
      const result = await slack.click(`${portalUrl()}${SLACK_INTERACTIONS_PATH}`, message, action, who);
      // Slack answers a click with 200 at once; the portal's reply comes as an ephemeral message.
      text = result.status === 200 ? await slack.ephemeralAfter(who.id, seen, 10_000) : `Slack got HTTP ${result.status} from Airlock.`;
    } else if (platform === 'teams') {
      const card = teams.cards.get(messageId);
      if (card === undefined) throw new Error('no such Teams card');
      const result = await teams.invoke(`${portalUrl()}${TEAMS_MESSAGES_PATH}`, card, action, teamsUser(user, tenantId));
      text = typeof result.json['value'] === 'string' ? result.json['value'] : `Teams got HTTP ${result.status} from Airlock.`;
    } else if (platform === 'mattermost') {
      const post = mattermost.posts.get(messageId);
      if (post === undefined) throw new Error('no such Mattermost post');
      const result = await mattermost.click(post, action, mattermostUserId(user), { triggerId: randomUUID() });
      text = typeof result.json['ephemeral_text'] === 'string' ? result.json['ephemeral_text'] : `Mattermost got HTTP ${result.status} from Airlock.`;
    } else {
      throw new Error('unknown platform');
    }
    this.#replies.push({ platform, user: user.username, messageId, text, at: Date.now() });
  }

  private replyFor(platform: Platform, user: DemoChatUser, messageId: string): string {
    const reply = this.#replies.filter((r) => r.platform === platform && r.user === user.username && r.messageId === messageId).at(-1);
    if (reply === undefined) return '';
    const code = /code ([0-9A-Z]{5}-[0-9A-Z]{5})/.exec(reply.text)?.[1];
    const link =
      code === undefined
        ? ''
        : ` <a class="go" href="${esc(this.#deps.portalUrl())}/#/chat" target="_blank" rel="noopener" data-testid="reply-link">Enter it in Airlock → Chat accounts</a>`;
    return `<div class="reply" data-testid="reply-${esc(platform)}" ${code === undefined ? '' : `data-code="${esc(code)}"`}><span class="only">Only visible to you</span> ${markup(reply.text)}${link}</div>`;
  }

  private button(platform: Platform, user: DemoChatUser, messageId: string, action: string, label: string, style: string): string {
    return `<form method="post" action="/click" class="inline"><input type="hidden" name="as" value="${esc(user.username)}"><input type="hidden" name="platform" value="${platform}"><input type="hidden" name="message" value="${esc(messageId)}"><input type="hidden" name="action" value="${esc(action)}"><button type="submit" class="${esc(style)}" data-testid="click-${platform}-${esc(action)}">${esc(label)}</button></form>`;
  }

  private slackMessage(m: SlackMessage, user: DemoChatUser): string {
    const id = `${m.channel}:${m.ts}`;
    const parts = m.blocks.map((b) => {
      if (b.type === 'header') return `<div class="title">${esc(b.text?.text ?? '')}</div>`;
      if (b.type === 'section') return `<div class="fields">${(b.fields ?? []).map((f) => `<div>${markup(f.text)}</div>`).join('')}</div>`;
      // Context elements carry their text as a string (mrkdwn), buttons as an object.
      if (b.type === 'context') return `<div class="status">${(b.elements ?? []).map((e) => markup(typeof e.text === 'string' ? e.text : (e.text?.text ?? ''))).join(' ')}</div>`;
      if (b.type === 'actions') {
        return `<div class="actions">${(b.elements ?? [])
          .map((e) =>
            e.url !== undefined
              ? `<a class="link-button" href="${esc(e.url)}" target="_blank" rel="noopener">${esc(e.text?.text ?? 'Open')}</a>`
              : this.button('slack', user, id, e.action_id ?? '', e.text?.text ?? e.action_id ?? '', (e as { style?: string }).style ?? ''),
          )
          .join(' ')}</div>`;
      }
      return '';
    });
    return `<article class="message" id="${esc(id)}" data-testid="slack-message">${parts.join('')}${m.updates > 0 ? '<div class="edited">(edited)</div>' : ''}${this.replyFor('slack', user, id)}</article>`;
  }

  private teamsCard(c: TeamsCard, user: DemoChatUser): string {
    const body = c.card.body
      .map((b) =>
        b.type === 'FactSet'
          ? `<div class="fields">${(b.facts ?? []).map((f) => `<div><strong>${esc(f.title)}</strong><br>${esc(f.value)}</div>`).join('')}</div>`
          : `<div class="${b === c.card.body[0] ? 'title' : 'status'}">${esc(b.text ?? '')}</div>`,
      )
      .join('');
    const actions = c.card.actions
      .map((a) =>
        a.type === 'Action.OpenUrl'
          ? `<a class="link-button" href="${esc(a.url ?? '')}" target="_blank" rel="noopener">${esc(a.title)}</a>`
          : this.button('teams', user, c.activityId, a.verb ?? '', a.title, (a as { style?: string }).style ?? ''),
      )
      .join(' ');
    return `<article class="message" id="${esc(c.activityId)}" data-testid="teams-message">${body}<div class="actions">${actions}</div>${c.updates > 0 ? '<div class="edited">(edited)</div>' : ''}${this.replyFor('teams', user, c.activityId)}</article>`;
  }

  private mattermostPost(p: MattermostPost, user: DemoChatUser): string {
    const a = p.props.attachments?.[0];
    const fields = (a as { fields?: Array<{ title: string; value: string }> } | undefined)?.fields ?? [];
    const actions = (a?.actions ?? []).map((x) => this.button('mattermost', user, p.id, x.id, x.name, (x as { style?: string }).style ?? '')).join(' ');
    return `<article class="message" id="${esc(p.id)}" data-testid="mattermost-message"><div class="title">${esc(a?.title ?? p.message)}</div><div class="fields">${fields.map((f) => `<div><strong>${esc(f.title)}</strong><br>${esc(f.value)}</div>`).join('')}</div><div class="status">${markup(a?.text ?? '')}</div><div class="actions">${actions}</div>${p.updates > 0 ? '<div class="edited">(edited)</div>' : ''}${this.replyFor('mattermost', user, p.id)}</article>`;
  }

  private conversation(title: string, testId: string, messages: string[]): string {
    return `<section class="conversation" data-testid="${esc(testId)}"><h3>${esc(title)}</h3>${messages.length === 0 ? '<p class="empty">No messages yet.</p>' : messages.join('')}</section>`;
  }

  private page(as: string | null): string {
    const { slack, teams, mattermost, channels, users, tenantId } = this.#deps;
    const user = this.user(as);
    const picker = users
      .map((u) => `<a href="/?as=${encodeURIComponent(u.username)}" class="${u.username === user?.username ? 'me' : ''}" data-testid="as-${esc(u.username)}">${esc(u.name)}<small>${esc(u.describes)}</small></a>`)
      .join('');
    let columns = '<p class="hint">Choose who you are: each user sees the channels and their own direct messages.</p>';
    if (user !== undefined) {
      const s = slackUser(user, slack.options.teamId);
      const t = teamsUser(user, tenantId);
      const slackColumn = [
        ...Object.entries(channels.slack).map(([label, ch]) => this.conversation(`#${label}`, `slack-channel-${ch}`, slack.messagesIn(ch).map((m) => this.slackMessage(m, user)))),
        this.conversation('Direct messages from Airlock', 'slack-dm', slack.messagesIn(s.id).map((m) => this.slackMessage(m, user))),
      ].join('');
      const teamsColumn = [
        ...Object.entries(channels.teams).map(([label, conv]) => this.conversation(label, `teams-channel`, teams.cardsIn(conv).map((c) => this.teamsCard(c, user)))),
        this.conversation('Chat with Airlock', 'teams-dm', teams.cardsIn(`a:dm-${t.id}`).map((c) => this.teamsCard(c, user))),
      ].join('');
      const mmId = mattermostUserId(user);
      const dms = [...mattermost.channels.values()].filter((c) => c.type === 'D' && c.members.has(mmId)).map((c) => c.id);
      const mattermostColumn = [
        ...Object.entries(channels.mattermost).map(([label, ch]) =>
          this.conversation(`~${label}`, `mattermost-channel-${ch}`, mattermost.channels.get(ch)?.members.has(mmId) === true ? mattermost.postsIn(ch).map((p) => this.mattermostPost(p, user)) : []),
        ),
        this.conversation('Direct messages from Airlock', 'mattermost-dm', dms.flatMap((ch) => mattermost.postsIn(ch)).map((p) => this.mattermostPost(p, user))),
      ].join('');
      columns = `<div class="columns">
        <div class="platform slack" data-testid="slack"><h2>Slack</h2>${slackColumn}</div>
        <div class="platform teams" data-testid="teams"><h2>Microsoft Teams</h2><p class="hint">Staff who signed in to Airlock are linked by their Entra id: no code.</p>${teamsColumn}</div>
        <div class="platform mattermost" data-testid="mattermost"><h2>Mattermost</h2>${mattermostColumn}</div>
      </div>`;
    }
    return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock demo chat${user === undefined ? '' : ` · ${esc(user.name)}`}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style></head><body>
<header><strong>Airlock demo chat</strong> <span>Local stand-ins for Slack, Teams and Mattermost. Clicks reach Airlock signed as the real platforms sign them.</span> <a href="${esc(this.#deps.portalUrl())}" target="_blank" rel="noopener">Open Airlock</a></header>
<nav class="users" aria-label="Who you are">${picker}</nav>
<main>${columns}</main>
<script>
  // Reload when a message arrives or changes after this page was drawn (the fakes count their
  // calls); keep the scroll position.
  const drawn = ${JSON.stringify(this.version())};
  setInterval(async () => {
    try {
      const v = await (await fetch('/version', { cache: 'no-store' })).text();
      if (v !== drawn) { sessionStorage.setItem('y', String(window.scrollY)); location.reload(); }
    } catch {}
  }, ${POLL_MS});
  const y = sessionStorage.getItem('y'); if (y !== null) { window.scrollTo(0, Number(y)); sessionStorage.removeItem('y'); }
</script></body></html>`;
  }
}

function body(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const STYLE = `
body { margin: 0; font-family: system-ui, sans-serif; background: #f4f5f7; color: #1d2330; }
header { background: #1d2330; color: #fff; padding: 0.6rem 1rem; display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
header span { opacity: 0.8; font-size: 0.9em; } header a { color: #8cc4ff; margin-left: auto; }
.users { display: flex; flex-wrap: wrap; gap: 0.4rem; padding: 0.6rem 1rem; background: #2a3242; }
.users a { color: #dfe4ee; text-decoration: none; padding: 0.3rem 0.7rem; border-radius: 4px; border: 1px solid #4a5468; display: flex; flex-direction: column; font-size: 0.9em; }
.users a small { opacity: 0.7; font-size: 0.8em; } .users a.me { background: #0b5cad; border-color: #0b5cad; color: #fff; }
main { padding: 1rem; } .hint { color: #5b6475; font-size: 0.9em; }
.columns { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 1rem; }
@media (max-width: 60rem) { .columns { grid-template-columns: minmax(0, 1fr); } }
.platform { background: #fff; border-radius: 8px; padding: 0.8rem; box-shadow: 0 1px 3px rgba(0,0,0,0.12); border-top: 5px solid #999; min-width: 0; }
.platform.slack { border-top-color: #4a154b; } .platform.teams { border-top-color: #5059c9; } .platform.mattermost { border-top-color: #1e325c; }
.platform h2 { margin: 0 0 0.5rem; font-size: 1.1rem; } .conversation h3 { font-size: 0.95rem; margin: 0.8rem 0 0.4rem; color: #3b4352; }
.message { border: 1px solid #d8dce3; border-radius: 6px; padding: 0.5rem 0.6rem; margin-bottom: 0.5rem; font-size: 0.9em; overflow-wrap: anywhere; }
.message .title { font-weight: 700; margin-bottom: 0.3rem; } .fields { display: grid; grid-template-columns: 1fr 1fr; gap: 0.3rem 0.8rem; margin-bottom: 0.3rem; }
.status { color: #3b4352; margin: 0.3rem 0; } .edited { color: #8a93a3; font-size: 0.8em; } .empty { color: #8a93a3; font-size: 0.9em; }
.actions { display: flex; flex-wrap: wrap; gap: 0.3rem; margin-top: 0.3rem; } form.inline { display: inline; margin: 0; }
button, .link-button { font: inherit; font-size: 0.9em; padding: 0.25rem 0.6rem; border-radius: 4px; border: 1px solid #b8bfcc; background: #fff; color: #1d2330; cursor: pointer; text-decoration: none; }
button.primary, button.positive { background: #1e7b34; border-color: #1e7b34; color: #fff; } button.danger, button.destructive { background: #b3261e; border-color: #b3261e; color: #fff; }
.reply { margin-top: 0.4rem; background: #fff8e1; border-left: 3px solid #9a6700; padding: 0.35rem 0.5rem; border-radius: 3px; }
.reply .only { display: block; font-size: 0.75em; color: #7a5300; } .reply a.go { display: inline-block; margin-top: 0.2rem; font-weight: 600; }
:focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; }
`;
