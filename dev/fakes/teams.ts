// A fake Microsoft Teams: the Bot Framework token endpoint and key set, the connector
// (create conversation, send and update activities), an incoming webhook, and a fake user who
// clicks Adaptive Card Action.Execute buttons by posting the documented `adaptiveCard/action`
// invoke activity with a JWT signed by the fake's key. For the demo and the tests.
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { FakeServer, bearer } from './base.ts';

export interface TeamsCard {
  conversationId: string;
  activityId: string;
  card: AdaptiveCardJson;
  updates: number;
}

export interface AdaptiveCardJson {
  body: Array<{ type: string; text?: string; facts?: Array<{ title: string; value: string }> }>;
  actions: Array<{ type: string; title: string; verb?: string; url?: string; data?: Record<string, unknown> }>;
}

export interface TeamsUser {
  aadObjectId: string;
  /** The member id Teams gives the user in this bot's conversations (29:…). */
  id: string;
  name: string;
  tenantId: string;
}

export interface FakeTeamsOptions {
  appId: string;
  appPassword: string;
  issuer?: string;
}

export interface InvokeOptions {
  /** Token claims to override (aud, iss, exp, serviceurl), or a token signed by another key. */
  claims?: Record<string, unknown>;
  foreignKey?: boolean;
  tenantId?: string;
  /** A fixed activity id, to replay the same click. */
  activityId?: string;
  /** Mutate the activity after it is built (and after the token is signed). */
  tamper?: (activity: Record<string, unknown>) => void;
}

export class FakeTeams {
  readonly server = new FakeServer();
  readonly options: FakeTeamsOptions;
  readonly cards = new Map<string, TeamsCard>();
  readonly webhookCards: AdaptiveCardJson[] = [];
  readonly issuer: string;
  #keys!: { privateKey: CryptoKey; publicJwk: Record<string, unknown> };
  #foreign!: CryptoKey;
  readonly #tokens = new Set<string>();

  private constructor(options: FakeTeamsOptions) {
    this.options = options;
    this.issuer = options.issuer ?? 'https://api.botframework.com';
  }

  static async start(options: FakeTeamsOptions): Promise<FakeTeams> {
    const fake = new FakeTeams(options);
    const pair = await generateKeyPair('RS256');
    fake.#keys = { privateKey: pair.privateKey, publicJwk: { ...(await exportJWK(pair.publicKey)), kid: 'fake-1', use: 'sig', alg: 'RS256', endorsements: ['msteams'] } };
    fake.#foreign = (await generateKeyPair('RS256')).privateKey;
    fake.routes();
    await fake.server.listen();
    return fake;
  }

  get jwksUrl(): string {
    return `${this.server.url}/keys`;
  }
  get tokenUrl(): string {
    return `${this.server.url}/token`;
  }
  /** The connector's service URL, as Teams puts it in activities (with the trailing slash). */
  get serviceUrl(): string {
    return `${this.server.url}/teams/`;
  }
  webhookUrl(name: string): string {
    return `${this.server.url}/webhook/${name}`;
  }

  private routes(): void {
    this.server.route('GET', /^\/keys$/, () => ({ json: { keys: [this.#keys.publicJwk] } }));
    this.server.route('POST', /^\/token$/, (call) => {
      const b = (call.body ?? {}) as Record<string, string>;
      if (b['client_id'] !== this.options.appId || b['client_secret'] !== this.options.appPassword || b['grant_type'] !== 'client_credentials') {
        return { status: 401, json: { error: 'invalid_client' } };
      }
      const token = randomUUID();
      this.#tokens.add(token);
      return { json: { token_type: 'Bearer', expires_in: 3600, access_token: token } };
    });
    const authed = (handler: (body: Record<string, unknown>, params: string[]) => unknown) => (call: { headers: Record<string, unknown>; body: unknown }, params: string[]) => {
      const token = bearer(call as Parameters<typeof bearer>[0]);
      if (token === undefined || !this.#tokens.has(token)) return { status: 401, json: { error: { code: 'Unauthorized' } } };
      return { json: handler((call.body ?? {}) as Record<string, unknown>, params) };
    };
    this.server.route('POST', /^\/teams\/v3\/conversations$/, authed((b) => {
      const member = (b['members'] as Array<{ id: string }> | undefined)?.[0]?.id ?? '';
      return { id: `a:dm-${member}` };
    }));
    this.server.route('POST', /^\/teams\/v3\/conversations\/([^/]+)\/activities$/, authed((b, [conversationId = '']) => {
      const activityId = `1:${randomUUID()}`;
      this.cards.set(activityId, { conversationId, activityId, card: FakeTeams.cardOf(b), updates: 0 });
      return { id: activityId };
    }));
    this.server.route('PUT', /^\/teams\/v3\/conversations\/([^/]+)\/activities\/([^/]+)$/, authed((b, [conversationId = '', activityId = '']) => {
      const card = this.cards.get(activityId);
      if (card === undefined || card.conversationId !== conversationId) return { error: 'not found' };
      Object.assign(card, { card: FakeTeams.cardOf(b), updates: card.updates + 1 });
      return { id: activityId };
    }));
    this.server.route('POST', /^\/webhook\/([^/]+)$/, (call) => {
      this.webhookCards.push(FakeTeams.cardOf((call.body ?? {}) as Record<string, unknown>));
      return { json: 1 };
    });
  }

  private static cardOf(activity: Record<string, unknown>): AdaptiveCardJson {
    const attachments = activity['attachments'] as Array<{ content: AdaptiveCardJson }> | undefined;
    return attachments?.[0]?.content ?? { body: [], actions: [] };
  }

  cardsIn(conversationId: string): TeamsCard[] {
    return [...this.cards.values()].filter((c) => c.conversationId === conversationId);
  }

  /** A Bot Framework token for the portal, as the Bot Connector service would sign it. */
  async token(claims: Record<string, unknown> = {}, foreignKey = false): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload = { serviceurl: this.serviceUrl, iss: this.issuer, aud: this.options.appId, nbf: now - 5, exp: now + 3600, ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'fake-1', typ: 'JWT' }).sign(foreignKey ? this.#foreign : this.#keys.privateKey);
  }

  /** Clicks an Action.Execute button of a card as `user`; answers with the portal's invoke response. */
  async invoke(messagingEndpoint: string, card: TeamsCard, verb: string, user: TeamsUser, opts: InvokeOptions = {}): Promise<{ status: number; json: Record<string, unknown> }> {
    const action = card.card.actions.find((a) => a.type === 'Action.Execute' && a.verb === verb);
    if (action === undefined) throw new Error(`no ${verb} button on card ${card.activityId}`);
    const tenantId = opts.tenantId ?? user.tenantId;
    const activity: Record<string, unknown> = {
      type: 'invoke',
      name: 'adaptiveCard/action',
      id: opts.activityId ?? `f:${randomUUID()}`,
      channelId: 'msteams',
      serviceUrl: this.serviceUrl,
      from: { id: user.id, name: user.name, aadObjectId: user.aadObjectId },
      recipient: { id: `28:${this.options.appId}` },
      conversation: { id: card.conversationId, tenantId, conversationType: card.conversationId.startsWith('a:') ? 'personal' : 'channel' },
      channelData: { tenant: { id: tenantId } },
      replyToId: card.activityId,
      value: { action: { type: 'Action.Execute', verb, data: action.data ?? {} }, trigger: 'manual' },
    };
    opts.tamper?.(activity);
    const token = await this.token(opts.claims, opts.foreignKey);
    const res = await fetch(messagingEndpoint, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(activity) });
    const text = await res.text();
    return { status: res.status, json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
