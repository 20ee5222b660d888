// Microsoft Teams: Adaptive Cards with Action.Execute sent through the Bot Framework connector
// and updated in place; inbound activities carry a JWT that is checked against the configured
// key set (signature, issuer, audience = our app id, expiry, serviceurl claim) before anything
// else, then the tenant allowlist. Without a bot, sites' incoming webhooks get plain cards with
// an "Open in Airlock" link.
import { createHash, randomUUID } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { TeamsBotConfig } from './config.ts';
import { callJson } from './http.ts';
import { CHAT_ACTIONS, type ChatAdapter, type ChatIdentity, type ChatMessage, type ClickHandler, type CopyRef, type Destination } from './model.ts';
import type { ChatStore } from './store.ts';
import { errorBody } from '../errors.ts';

export const TEAMS_MESSAGES_PATH = '/chat/teams/messages';

/** Bot Framework activities are small; an Adaptive Card invoke is a few KB. */
const CALLBACK_BODY_LIMIT = '256kb';
/** Bot Framework's documented allowance for clock skew between its token service and us. */
const CLOCK_TOLERANCE_SECONDS = 300;
/** Renew the connector token this long before it expires. */
const TOKEN_RENEW_MARGIN_MS = 5 * 60_000;
const ADAPTIVE_CARD = 'application/vnd.microsoft.card.adaptive';

const invokeValue = z.object({
  action: z.object({
    type: z.literal('Action.Execute'),
    verb: z.enum(CHAT_ACTIONS),
    data: z.object({ requestId: z.uuid(), nonce: z.string().min(1).max(64), sessionId: z.string().min(1).max(128).optional(), fileId: z.uuid().optional() }),
  }),
});

const activitySchema = z.object({
  type: z.string(),
  id: z.string().max(256).optional(),
  name: z.string().optional(),
  serviceUrl: z.string(),
  channelId: z.string().optional(),
  from: z.object({ id: z.string(), name: z.string().optional(), aadObjectId: z.string().optional() }),
  conversation: z.object({ id: z.string(), tenantId: z.string().optional() }),
  channelData: z.object({ tenant: z.object({ id: z.string() }).optional() }).loose().optional(),
  value: z.unknown().optional(),
});

const tokenAnswer = z.object({ access_token: z.string(), expires_in: z.number() });
const idAnswer = z.object({ id: z.string() });
const anyAnswer = z.unknown();

/** The Adaptive Card rendering; without a bot (webhooks), buttons become a link to Airlock. */
export function adaptiveCard(m: ChatMessage, interactive: boolean): Record<string, unknown> {
  const actions: unknown[] = [];
  for (const a of m.actions) {
    if (a.kind === 'link') actions.push({ type: 'Action.OpenUrl', title: a.label, url: a.url });
    else if (interactive) {
      actions.push({
        type: 'Action.Execute',
        title: a.label,
        verb: a.action,
        data: { requestId: a.value.requestId, nonce: a.value.nonce, ...(a.value.sessionId === undefined ? {} : { sessionId: a.value.sessionId }), ...(a.value.fileId === undefined ? {} : { fileId: a.value.fileId }) },
        ...(a.style === 'primary' ? { style: 'positive' } : a.style === 'danger' ? { style: 'destructive' } : {}),
      });
    }
  }
  return {
    type: 'AdaptiveCard',
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    version: '1.4',
    body: [
      { type: 'TextBlock', text: m.title, weight: 'Bolder', size: 'Medium', wrap: true },
      { type: 'FactSet', facts: m.fields.map((f) => ({ title: f.label, value: f.value })) },
      ...(m.status === undefined ? [] : [{ type: 'TextBlock', text: m.status, wrap: true, isSubtle: true }]),
    ],
    actions,
  };
}

const attachment = (m: ChatMessage, interactive: boolean) => ({ contentType: ADAPTIVE_CARD, content: adaptiveCard(m, interactive) });

/** The reply to an Adaptive Card invoke that shows the clicker a message (only them). */
const invokeMessage = (text: string) => ({ statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: text });

export class TeamsAdapter implements ChatAdapter {
  readonly platform = 'teams' as const;
  readonly #bot: TeamsBotConfig | undefined;
  readonly #store: ChatStore;
  readonly #log: Logger;
  readonly #keys: JWTVerifyGetKey | undefined;
  #token: { value: string; renewAt: number } | undefined;

  constructor(bot: TeamsBotConfig | undefined, deps: { store: ChatStore; log: Logger }) {
    this.#bot = bot;
    this.#store = deps.store;
    this.#log = deps.log;
    this.#keys = bot === undefined ? undefined : createRemoteJWKSet(new URL(bot.jwksUrl));
  }

  private bot(): TeamsBotConfig {
    if (this.#bot === undefined) throw new Error('Teams: this needs teams.bot in the chat file');
    return this.#bot;
  }

  /** The connector's bearer token (OAuth client credentials), cached until shortly before expiry. */
  private async token(): Promise<string> {
    if (this.#token !== undefined && Date.now() < this.#token.renewAt) return this.#token.value;
    const bot = this.bot();
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: bot.appId, client_secret: bot.appPassword, scope: 'https://api.botframework.com/.default' });
    const answer = await callJson('teams', 'token', bot.tokenUrl, tokenAnswer, { body: form });
    this.#token = { value: answer.access_token, renewAt: Date.now() + answer.expires_in * 1000 - TOKEN_RENEW_MARGIN_MS };
    return answer.access_token;
  }

  private async connector<T>(call: string, serviceUrl: string, path: string, schema: z.ZodType<T>, method: 'POST' | 'PUT', body: unknown): Promise<T> {
    if (!this.bot().allowedServiceUrls.includes(serviceUrl)) throw new Error(`Teams: service URL ${serviceUrl} is not allowed`);
    const url = `${serviceUrl.replace(/\/$/, '')}${path}`;
    return callJson('teams', call, url, schema, { method, headers: { authorization: `Bearer ${await this.token()}` }, body });
  }

  async post(to: Destination, message: ChatMessage): Promise<CopyRef> {
    if (to.kind === 'webhook') {
      await callJson('teams', 'webhook', to.url, anyAnswer, { body: { type: 'message', attachments: [attachment(message, false)] } });
      return { platform: 'teams', id: randomUUID(), where: {}, updatable: false };
    }
    let serviceUrl: string;
    let conversationId: string;
    if (to.kind === 'channel') {
      serviceUrl = to.serviceUrl ?? '';
      conversationId = to.channel;
    } else {
      // A direct message needs a one-to-one conversation with the member, created (or found) first.
      serviceUrl = to.user.address?.['serviceUrl'] ?? '';
      const created = await this.connector('createConversation', serviceUrl, '/v3/conversations', idAnswer, 'POST', {
        isGroup: false,
        bot: { id: this.bot().appId },
        members: [{ id: to.user.address?.['memberId'] ?? '' }],
        tenantId: to.user.workspace,
        channelData: { tenant: { id: to.user.workspace } },
      });
      conversationId = created.id;
    }
    const path = `/v3/conversations/${encodeURIComponent(conversationId)}/activities`;
    const sent = await this.connector('sendToConversation', serviceUrl, path, idAnswer, 'POST', { type: 'message', attachments: [attachment(message, true)] });
    return { platform: 'teams', id: `${conversationId}:${sent.id}`, where: { serviceUrl, conversationId, activityId: sent.id }, updatable: true };
  }

  async update(copy: CopyRef, message: ChatMessage): Promise<void> {
    const { serviceUrl = '', conversationId = '', activityId = '' } = copy.where;
    const path = `/v3/conversations/${encodeURIComponent(conversationId)}/activities/${encodeURIComponent(activityId)}`;
    await this.connector('updateActivity', serviceUrl, path, anyAnswer, 'PUT', { type: 'message', id: activityId, attachments: [attachment(message, true)] });
  }

  /** Teams activities carry no verified email; staff are matched by code (or their Entra object id). */
  async verifiedEmail(): Promise<string | undefined> {
    return undefined;
  }

  /** Checks the bearer token; returns its serviceurl claim, or undefined when the token is not valid. */
  private async verifyToken(authorization: string | undefined): Promise<string | undefined> {
    const bot = this.bot();
    const token = /^Bearer ([A-Za-z0-9._-]+)$/.exec(authorization ?? '')?.[1];
    if (token === undefined || this.#keys === undefined) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.#keys, {
        issuer: bot.issuer,
        audience: bot.appId,
        algorithms: ['RS256'],
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp'],
      });
      const serviceUrl = payload['serviceurl'];
      return typeof serviceUrl === 'string' ? serviceUrl : undefined;
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) {
        this.#log.warn({ code: err.code }, 'teams token refused');
        return undefined;
      }
      throw err;
    }
  }

  routes(core: ClickHandler): Router {
    const router = Router();
    if (this.#bot === undefined) return router;
    const bot = this.#bot;
    router.post(TEAMS_MESSAGES_PATH, express.json({ limit: CALLBACK_BODY_LIMIT }), async (req: Request, res: Response) => {
      const claimedServiceUrl = await this.verifyToken(req.get('authorization'));
      if (claimedServiceUrl === undefined) {
        core.forged('teams', 'bad_token', req.ip);
        res.status(401).json(errorBody('bad_token', 'The bearer token is not valid.'));
        return;
      }
      const activity = activitySchema.safeParse(req.body);
      if (!activity.success) {
        res.status(400).json(errorBody('invalid_activity', 'Not a Bot Framework activity.'));
        return;
      }
      const a = activity.data;
      // The token names the service it came from; the activity must point back to the same one.
      if (a.serviceUrl !== claimedServiceUrl || !bot.allowedServiceUrls.includes(a.serviceUrl)) {
        core.forged('teams', 'service_url_mismatch', req.ip);
        res.status(401).json(errorBody('service_url_mismatch', 'The activity does not match its token.'));
        return;
      }
      const tenant = a.conversation.tenantId ?? a.channelData?.tenant?.id ?? '';
      const actor: ChatIdentity = {
        platform: 'teams',
        workspace: tenant,
        // The Entra object id is stable across chats and apps; the Teams member id is per bot.
        userId: a.from.aadObjectId ?? '',
        ...(a.from.name === undefined ? {} : { displayName: a.from.name }),
        address: { memberId: a.from.id, serviceUrl: a.serviceUrl },
      };
      if (!bot.allowedTenants.includes(tenant)) {
        await core.rejected(actor, 'tenant_not_allowed');
        res.status(403).json(errorBody('tenant_not_allowed', 'This tenant is not allowed.'));
        return;
      }
      const value = invokeValue.safeParse(a.value);
      if (a.type !== 'invoke' || a.name !== 'adaptiveCard/action' || !value.success || actor.userId === '') {
        // Messages, installs and other activities: acknowledged, nothing to do.
        res.status(200).json({});
        return;
      }
      const digest = createHash('sha256').update(`${a.conversation.id}\0${a.id ?? JSON.stringify(req.body)}`).digest('hex');
      if (!(await this.#store.firstSighting('teams', digest))) {
        res.status(200).json(invokeMessage('This click was already handled.'));
        return;
      }
      const { verb, data } = value.data.action;
      const outcome = await core.handle({ actor, action: verb, requestId: data.requestId, nonce: data.nonce, ...(data.sessionId === undefined ? {} : { sessionId: data.sessionId }), ...(data.fileId === undefined ? {} : { fileId: data.fileId }) });
      res.status(200).json(invokeMessage(outcome.text));
    });
    return router;
  }
}
