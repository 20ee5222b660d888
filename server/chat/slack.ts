// Slack: Block Kit cards posted with chat.postMessage and kept current with chat.update; button
// clicks arrive as signed `block_actions` interactivity callbacks (verified before anything is
// parsed) or, in Socket Mode, as envelopes on the portal's own WebSocket to Slack; both go
// through one handler. The clicker is answered with chat.postEphemeral.
import { createHash } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { SlackConfig } from './config.ts';
import { callJson } from './http.ts';
import { CHAT_ACTIONS, type ChatAdapter, type ChatIdentity, type ChatMessage, type ClickHandler, type ClickOutcome, type CopyRef, type Destination } from './model.ts';
import { verifySlackRequest } from './signing.ts';
import { SlackSocketMode } from './slack-socket.ts';
import type { ChatStore } from './store.ts';
import { errorMessage, errorBody } from '../errors.ts';

export const SLACK_INTERACTIONS_PATH = '/chat/slack/interactions';

/** Slack's interactivity payloads are a few KB; anything much larger is not from Slack. */
const CALLBACK_BODY_LIMIT = '64kb';
/** Block Kit: a section holds at most 10 fields; a field's text at most 2000 characters. */
const MAX_FIELDS = 10;
const MAX_FIELD_TEXT = 1900;
/** The action_id of link buttons: Slack reports their clicks too; there is nothing to do. */
const LINK_ACTION_ID = 'open_link';

const slackOk = z.object({ ok: z.literal(true) }).loose();
const postAnswer = z.object({ ok: z.literal(true), channel: z.string(), ts: z.string() });
const userAnswer = z.object({
  ok: z.literal(true),
  user: z.object({ id: z.string(), team_id: z.string().optional(), deleted: z.boolean().optional(), is_bot: z.boolean().optional(), profile: z.object({ email: z.string().optional() }).loose() }).loose(),
});

const buttonValue = z.strictObject({ r: z.uuid(), n: z.string().min(1).max(64), s: z.string().min(1).max(128).optional(), f: z.uuid().optional() });

const blockActions = z.object({
  type: z.literal('block_actions'),
  api_app_id: z.string(),
  team: z.object({ id: z.string() }),
  user: z.object({ id: z.string(), username: z.string().optional(), name: z.string().optional() }),
  channel: z.object({ id: z.string() }).optional(),
  actions: z.array(z.object({ action_id: z.string(), value: z.string().max(512).optional() })).min(1),
});
type BlockActions = z.infer<typeof blockActions>;

function parseJson(text: string | undefined): unknown {
  try {
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

const escapeMrkdwn = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The Block Kit rendering of a ChatMessage. */
export function slackBlocks(m: ChatMessage): unknown[] {
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: m.title.slice(0, 150), emoji: true } },
    {
      type: 'section',
      fields: m.fields.slice(0, MAX_FIELDS).map((f) => ({ type: 'mrkdwn', text: `*${escapeMrkdwn(f.label)}*\n${escapeMrkdwn(f.value).slice(0, MAX_FIELD_TEXT)}` })),
    },
  ];
  if (m.status !== undefined) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(m.status) }] });
  if (m.actions.length > 0) {
    blocks.push({
      type: 'actions',
      block_id: 'airlock_actions',
      elements: m.actions.map((a) =>
        a.kind === 'link'
          ? { type: 'button', action_id: LINK_ACTION_ID, text: { type: 'plain_text', text: a.label }, url: a.url }
          : {
              type: 'button',
              action_id: a.action,
              text: { type: 'plain_text', text: a.label },
              ...(a.style === 'default' ? {} : { style: a.style }),
              value: JSON.stringify({ r: a.value.requestId, n: a.value.nonce, ...(a.value.sessionId === undefined ? {} : { s: a.value.sessionId }), ...(a.value.fileId === undefined ? {} : { f: a.value.fileId }) }),
            },
      ),
    });
  }
  return blocks;
}

export class SlackAdapter implements ChatAdapter {
  readonly platform = 'slack' as const;
  readonly #config: SlackConfig;
  readonly #store: ChatStore;
  readonly #log: Logger;
  #socket: SlackSocketMode | undefined;

  constructor(config: SlackConfig, deps: { store: ChatStore; log: Logger }) {
    this.#config = config;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  private call<T>(method: string, body: Record<string, unknown>, schema: z.ZodType<T>): Promise<T> {
    return callJson('slack', method, `${this.#config.apiUrl}/${method}`, schema, { headers: { authorization: `Bearer ${this.#config.botToken}` }, body });
  }

  async post(to: Destination, message: ChatMessage): Promise<CopyRef> {
    if (to.kind === 'webhook') throw new Error('Slack posts to channels and users, not webhooks');
    // A user id as channel posts into the app's direct-message conversation with that user.
    const channel = to.kind === 'channel' ? to.channel : to.user.userId;
    const answer = await this.call('chat.postMessage', { channel, text: message.text, blocks: slackBlocks(message), unfurl_links: false }, postAnswer);
    return { platform: 'slack', id: `${answer.channel}:${answer.ts}`, where: { channel: answer.channel, ts: answer.ts }, updatable: true };
  }

  async update(copy: CopyRef, message: ChatMessage): Promise<void> {
    await this.call('chat.update', { channel: copy.where['channel'], ts: copy.where['ts'], text: message.text, blocks: slackBlocks(message) }, slackOk);
  }

  async verifiedEmail(user: ChatIdentity): Promise<string | undefined> {
    const answer = await this.call('users.info', { user: user.userId }, userAnswer);
    const u = answer.user;
    // Slack confirms workspace members' emails; bots, deactivated users and other teams do not count.
    if (u.deleted === true || u.is_bot === true || (u.team_id !== undefined && u.team_id !== user.workspace)) return undefined;
    return u.profile.email;
  }

  private ephemeral(channel: string | undefined, user: string, text: string): void {
    if (channel === undefined) return;
    this.call('chat.postEphemeral', { channel, user, text }, slackOk).catch((err: unknown) =>
      this.#log.warn({ err: { message: errorMessage(err), cause: String((err as Error).cause) } }, 'slack ephemeral reply failed'),
    );
  }

  /**
   * One `block_actions` payload, however it arrived (HTTP after its signature check, or a Socket
   * Mode envelope): the workspace and app allowlist, the replay check on `digest`, the approval
   * core. Returns what the transport answers: refused (foreign workspace), or the clicker's reply.
   */
  private async interaction(core: ClickHandler, payload: BlockActions, digest: string): Promise<{ refused: true } | { refused: false; reply: ClickOutcome | undefined }> {
    const actor: ChatIdentity = {
      platform: 'slack',
      workspace: payload.team.id,
      userId: payload.user.id,
      ...(payload.user.username === undefined ? {} : { displayName: payload.user.username }),
    };
    if (!this.#config.allowedTeams.includes(payload.team.id) || !this.#config.allowedApps.includes(payload.api_app_id)) {
      await core.rejected(actor, 'workspace_not_allowed');
      return { refused: true };
    }
    const [action] = payload.actions;
    const name = CHAT_ACTIONS.find((a) => a === action?.action_id);
    const value = buttonValue.safeParse(parseJson(action?.value));
    // Link buttons, and anything not ours, need only the acknowledgement.
    if (name === undefined || !value.success) return { refused: false, reply: undefined };
    // A replayed callback is acknowledged and not acted on twice.
    if (!(await this.#store.firstSighting('slack', digest))) return { refused: false, reply: undefined };
    const outcome = await core.handle({
      actor,
      action: name,
      requestId: value.data.r,
      nonce: value.data.n,
      ...(value.data.s === undefined ? {} : { sessionId: value.data.s }),
      ...(value.data.f === undefined ? {} : { fileId: value.data.f }),
    });
    return { refused: false, reply: outcome };
  }

  /** Socket Mode, when configured: connects in the background; clicks go through `interaction`. */
  start(core: ClickHandler): void {
    const appToken = this.#config.appToken;
    if (appToken === undefined || this.#socket !== undefined) return;
    this.#socket = new SlackSocketMode({
      appToken,
      apiUrl: this.#config.apiUrl,
      log: this.#log,
      onInteractive: (payload) =>
        this.socketInteraction(core, payload).catch((err: unknown) =>
          this.#log.warn({ err: { message: errorMessage(err) } }, 'slack socket mode: click not handled'),
        ),
    });
    this.#socket.start();
  }

  async stop(): Promise<void> {
    await this.#socket?.stop();
  }

  private async socketInteraction(core: ClickHandler, raw: unknown): Promise<void> {
    const payload = blockActions.safeParse(raw);
    if (!payload.success) return; // view submissions, shortcuts: not ours; the envelope is acknowledged
    // Slack retries an envelope with the same payload (trigger_id and action_ts make each click unique).
    const digest = createHash('sha256').update('socket\0').update(JSON.stringify(raw)).digest('hex');
    const result = await this.interaction(core, payload.data, digest);
    if (!result.refused && result.reply !== undefined) this.ephemeral(payload.data.channel?.id, payload.data.user.id, result.reply.text);
  }

  routes(core: ClickHandler): Router {
    const router = Router();
    const signingSecret = this.#config.signingSecret;
    // Socket Mode only: no Request URL, nothing to mount.
    if (signingSecret === undefined) return router;
    router.post(SLACK_INTERACTIONS_PATH, express.raw({ type: 'application/x-www-form-urlencoded', limit: CALLBACK_BODY_LIMIT }), async (req: Request, res: Response) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const check = verifySlackRequest(
        signingSecret,
        { timestamp: req.get('x-slack-request-timestamp'), signature: req.get('x-slack-signature') },
        raw,
        Math.floor(Date.now() / 1000),
      );
      if (check !== 'ok') {
        this.#log.warn({ check }, 'slack callback refused');
        core.forged('slack', check, req.ip);
        res.status(401).json(errorBody(check, 'The request signature is not valid.'));
        return;
      }
      let payload: BlockActions;
      try {
        payload = blockActions.parse(JSON.parse(new URLSearchParams(raw.toString('utf8')).get('payload') ?? ''));
      } catch {
        res.status(400).json(errorBody('unsupported_payload', 'Only block_actions payloads are handled.'));
        return;
      }
      // The digest is over the signed bytes: a replay is the same request sent again.
      const result = await this.interaction(core, payload, createHash('sha256').update(raw).digest('hex'));
      if (result.refused) {
        res.status(403).json(errorBody('workspace_not_allowed', 'This workspace or app is not allowed.'));
        return;
      }
      res.status(200).end();
      if (result.reply !== undefined) this.ephemeral(payload.channel?.id, payload.user.id, result.reply.text);
    });
    return router;
  }
}
