// Mattermost: interactive message buttons posted by a bot account through the REST API (v4) and
// patched in place. Mattermost does not sign callbacks, so each button's context carries an HMAC
// (over canonical JSON of request, action, nonce, expiry) checked in constant time, and the
// clicker, the post and its channel are re-read from the API before anything happens.
import { createHash } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { MattermostConfig } from './config.ts';
import { ChatApiError, callJson } from './http.ts';
import { CHAT_ACTIONS, type ChatAction, type ChatAdapter, type ChatIdentity, type ChatMessage, type ClickHandler, type CopyRef, type Destination } from './model.ts';
import { constantTimeEqual, contextMac } from './signing.ts';
import type { ChatStore } from './store.ts';
import { errorBody } from '../errors.ts';

export const MATTERMOST_ACTIONS_PATH = '/chat/mattermost/actions';

const CALLBACK_BODY_LIMIT = '64kb';
/** The post property naming the request a message is about: re-read and compared on each click. */
const REQUEST_PROP = 'airlock_request';

const userAnswer = z.object({ id: z.string(), delete_at: z.number(), is_bot: z.boolean().optional(), email: z.string().optional(), email_verified: z.boolean().optional() }).loose();
const postAnswer = z.object({ id: z.string(), user_id: z.string(), channel_id: z.string(), props: z.record(z.string(), z.unknown()).optional() }).loose();
const channelAnswer = z.object({ id: z.string(), type: z.string(), team_id: z.string() }).loose();
const idAnswer = z.object({ id: z.string() }).loose();
const anyAnswer = z.unknown();

/** The fields the context HMAC covers; `sig` travels beside them. */
const contextFields = z.strictObject({
  requestId: z.uuid(),
  action: z.enum(CHAT_ACTIONS),
  nonce: z.string().min(1).max(64),
  /** Unix seconds after which the button is refused whatever else holds. */
  exp: z.number().int(),
  sessionId: z.string().min(1).max(128).optional(),
  fileId: z.uuid().optional(),
});
type ContextFields = z.infer<typeof contextFields>;

const callbackSchema = z.object({
  user_id: z.string().min(1).max(64),
  post_id: z.string().min(1).max(64),
  channel_id: z.string().min(1).max(64),
  team_id: z.string().max(64).optional(),
  trigger_id: z.string().max(512).optional(),
  context: z.record(z.string(), z.unknown()),
});

/** A button's context: its fields plus their HMAC. */
export function signContext(secret: string, fields: ContextFields): Record<string, unknown> {
  return { ...fields, sig: contextMac(secret, fields) };
}

/** The context's fields when its HMAC is valid (whatever order the keys came back in), else undefined. */
export function verifyContext(secret: string, context: Record<string, unknown>): ContextFields | undefined {
  const { sig, ...rest } = context;
  const fields = contextFields.safeParse(rest);
  if (typeof sig !== 'string' || !fields.success) return undefined;
  return constantTimeEqual(contextMac(secret, rest), sig) ? fields.data : undefined;
}

const STYLES: Record<'primary' | 'danger' | 'default', string> = { primary: 'success', danger: 'danger', default: 'default' };

export class MattermostAdapter implements ChatAdapter {
  readonly platform = 'mattermost' as const;
  readonly #config: MattermostConfig;
  readonly #store: ChatStore;
  readonly #log: Logger;
  readonly #callbackUrl: string;
  #botUserId: Promise<string> | undefined;

  constructor(config: MattermostConfig, deps: { store: ChatStore; log: Logger; publicUrl: string }) {
    this.#config = config;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#callbackUrl = `${deps.publicUrl}${MATTERMOST_ACTIONS_PATH}`;
  }

  private api<T>(call: string, path: string, schema: z.ZodType<T>, method: 'GET' | 'POST' | 'PUT' = 'GET', body?: unknown): Promise<T> {
    return callJson('mattermost', call, `${this.#config.url}/api/v4${path}`, schema, { method, headers: { authorization: `Bearer ${this.#config.botToken}` }, body });
  }

  /** The bot's own user id (asked once): posts the clicks point at must be the bot's. */
  private botUserId(): Promise<string> {
    this.#botUserId ??= this.api('getMe', '/users/me', idAnswer).then(
      (u) => u.id,
      (err: unknown) => {
        this.#botUserId = undefined;
        throw err;
      },
    );
    return this.#botUserId;
  }

  /** Mattermost's message attachment rendering; buttons carry the signed context. */
  private props(m: ChatMessage, requestId: string): Record<string, unknown> {
    const exp = Math.floor(m.expiresAt.getTime() / 1000);
    const links = m.actions.flatMap((a) => (a.kind === 'link' ? [`[${a.label}](${a.url})`] : []));
    const text = [...(m.status === undefined ? [] : [m.status]), ...(links.length === 0 ? [] : [links.join(' · ')])].join('\n');
    const actions = m.actions.flatMap((a) =>
      a.kind === 'link'
        ? []
        : [
            {
              id: a.action.replace(/[^A-Za-z0-9]/g, ''), // Mattermost action ids are letters and digits only (the action itself is in the signed context)
              name: a.label,
              type: 'button',
              style: STYLES[a.style],
              integration: {
                url: this.#callbackUrl,
                context: signContext(this.#config.contextSecret, {
                  requestId: a.value.requestId,
                  action: a.action,
                  nonce: a.value.nonce,
                  exp,
                  ...(a.value.sessionId === undefined ? {} : { sessionId: a.value.sessionId }),
                  ...(a.value.fileId === undefined ? {} : { fileId: a.value.fileId }),
                }),
              },
            },
          ],
    );
    return {
      [REQUEST_PROP]: requestId,
      attachments: [{ fallback: m.text, title: m.title, text, fields: m.fields.map((f) => ({ title: f.label, value: f.value, short: f.value.length < 40 })), actions }],
    };
  }

  /** Read from the message, not its buttons: a decided card has none, and its post must still name the request (a repeated click is checked against it). */
  private subjectOf(m: ChatMessage): string {
    return m.requestId;
  }

  async post(to: Destination, message: ChatMessage): Promise<CopyRef> {
    if (to.kind === 'webhook') throw new Error('Mattermost posts through the bot account, not webhooks');
    let channelId = to.kind === 'channel' ? to.channel : undefined;
    if (to.kind === 'direct') {
      channelId = (await this.api('createDirectChannel', '/channels/direct', idAnswer, 'POST', [await this.botUserId(), to.user.userId])).id;
    }
    const post = await this.api('createPost', '/posts', idAnswer, 'POST', { channel_id: channelId, message: '', props: this.props(message, this.subjectOf(message)) });
    return { platform: 'mattermost', id: post.id, where: { postId: post.id }, updatable: true };
  }

  async update(copy: CopyRef, message: ChatMessage): Promise<void> {
    await this.api('patchPost', `/posts/${encodeURIComponent(copy.where['postId'] ?? '')}/patch`, anyAnswer, 'PUT', { message: '', props: this.props(message, this.subjectOf(message)) });
  }

  async verifiedEmail(user: ChatIdentity): Promise<string | undefined> {
    const u = await this.api('getUser', `/users/${encodeURIComponent(user.userId)}`, userAnswer);
    return u.delete_at === 0 && u.is_bot !== true && u.email_verified === true ? u.email : undefined;
  }

  /**
   * Re-reads the click's facts from Mattermost: an active human user, a post of our bot about
   * this request in the channel named, the channel in an allowed team (or a direct message),
   * and the clicker a member of it. Returns why not, or undefined when all hold.
   */
  private async confirm(click: z.infer<typeof callbackSchema>, requestId: string): Promise<string | undefined> {
    const e = encodeURIComponent;
    try {
      const [user, post, channel, bot] = await Promise.all([
        this.api('getUser', `/users/${e(click.user_id)}`, userAnswer),
        this.api('getPost', `/posts/${e(click.post_id)}`, postAnswer),
        this.api('getChannel', `/channels/${e(click.channel_id)}`, channelAnswer),
        this.botUserId(),
      ]);
      if (user.delete_at !== 0 || user.is_bot === true) return 'inactive_user';
      if (post.user_id !== bot || post.channel_id !== channel.id || post.props?.[REQUEST_PROP] !== requestId) return 'post_mismatch';
      if (channel.type !== 'D' && !this.#config.allowedTeams.includes(channel.team_id)) return 'team_not_allowed';
      await this.api('getChannelMember', `/channels/${e(channel.id)}/members/${e(user.id)}`, anyAnswer);
      return undefined;
    } catch (err) {
      if (err instanceof ChatApiError && err.code.startsWith('http_4')) return 'not_confirmed';
      throw err;
    }
  }

  routes(core: ClickHandler): Router {
    const router = Router();
    router.post(MATTERMOST_ACTIONS_PATH, express.json({ limit: CALLBACK_BODY_LIMIT }), async (req: Request, res: Response) => {
      const parsed = callbackSchema.safeParse(req.body);
      const fields = parsed.success ? verifyContext(this.#config.contextSecret, parsed.data.context) : undefined;
      if (!parsed.success || fields === undefined) {
        this.#log.warn('mattermost callback refused: bad context');
        core.forged('mattermost', 'bad_context', req.ip);
        res.status(401).json(errorBody('bad_context', 'The button context is not valid.'));
        return;
      }
      const click = parsed.data;
      if (fields.exp * 1000 < Date.now()) {
        res.status(200).json({ ephemeral_text: 'This button has expired. Nothing was changed.' });
        return;
      }
      const actor: ChatIdentity = { platform: 'mattermost', workspace: new URL(this.#config.url).host, userId: click.user_id };
      const unconfirmed = await this.confirm(click, fields.requestId);
      if (unconfirmed !== undefined) {
        await core.rejected(actor, unconfirmed);
        res.status(403).json(errorBody(unconfirmed, 'The click could not be confirmed with Mattermost.'));
        return;
      }
      const digest = createHash('sha256').update(JSON.stringify([click.user_id, click.post_id, click.trigger_id ?? '', fields])).digest('hex');
      if (!(await this.#store.firstSighting('mattermost', digest))) {
        res.status(200).json({ ephemeral_text: 'This click was already handled.' });
        return;
      }
      const action: ChatAction = fields.action;
      const outcome = await core.handle({
        actor,
        action,
        requestId: fields.requestId,
        nonce: fields.nonce,
        ...(fields.sessionId === undefined ? {} : { sessionId: fields.sessionId }),
        ...(fields.fileId === undefined ? {} : { fileId: fields.fileId }),
      });
      res.status(200).json({ ephemeral_text: outcome.text });
    });
    return router;
  }
}
