// Domain events → chat messages. On request.created it posts the card to every destination of
// the machine's site; on every later change it updates every posted copy; session events get
// their own notices. One instance handles each event (a Redis claim), and events of one request
// are handled in order on that instance.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { DomainEvent, EventBus } from '../events/bus.ts';
import type { InventoryStore } from '../inventory/store.ts';
import { mayDecide } from '../policies.ts';
import type { AccessRequest } from '../requests/schema.ts';
import type { RequestService } from '../requests/service.ts';
import type { ChatConfig } from './config.ts';
import { nonceScope } from './core.ts';
import { endingSoonMessage, fileMessage, observerMessage, requestMessage, sessionMessage, type PortalLinks } from './messages.ts';
import type { FileControl } from '../plugins/contract.ts';
import type { ChatAdapter, ChatMessage, CopyRef, Destination, Platform } from './model.ts';
import type { ChatStore } from './store.ts';
import { errorMessage, notFound } from '../errors.ts';
import type { Metrics } from '../metrics.ts';

/** Copies and nonces are kept this long after the window ends: late updates still find them. */
const KEEP_AFTER_WINDOW_MS = 24 * 3_600_000;

export interface NotifierDeps {
  chat: ChatConfig;
  store: ChatStore;
  requests: RequestService;
  inventory: InventoryStore;
  events: EventBus;
  log: Logger;
  links: PortalLinks;
  adapters: ReadonlyMap<Platform, ChatAdapter>;
  /** The file airlock: session.file events post and update the files' messages (undefined: they are ignored). */
  files?: FileControl | undefined;
  metrics?: Metrics | undefined;
}

/** Who gets a message: the site's approvers (channels and their direct messages), or the vendor holding the grant (a direct message). */
type Audience = 'approvers' | 'vendor';

const keepUntil = (r: AccessRequest): Date => new Date(Date.parse(r.grant?.end ?? r.windowEnd) + KEEP_AFTER_WINDOW_MS);

export class ChatNotifier {
  readonly #deps: NotifierDeps;
  /** The tail of each request's chain of event handlers on this instance. */
  readonly #chains = new Map<string, Promise<void>>();
  #off: (() => void) | undefined;

  constructor(deps: NotifierDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#off = this.#deps.events.on((event) => this.enqueue(event));
  }

  /** Stops listening and waits for the handlers in flight. */
  async stop(): Promise<void> {
    this.#off?.();
    await Promise.all(this.#chains.values());
  }

  private enqueue(event: DomainEvent): void {
    const previous = this.#chains.get(event.requestId) ?? Promise.resolve();
    const next = previous
      .then(() => this.handle(event))
      .catch((err: unknown) => this.#deps.log.warn({ err: { message: errorMessage(err) }, type: event.type, requestId: event.requestId }, 'chat notification failed'))
      .finally(() => {
        if (this.#chains.get(event.requestId) === next) this.#chains.delete(event.requestId);
      });
    this.#chains.set(event.requestId, next);
  }

  /** The request as the integration reads it: the whole of it, whoever the cards go to. */
  private async request(id: string): Promise<AccessRequest> {
    const request = await this.#deps.requests.lookup(id);
    if (request === undefined) throw notFound('unknown_request', 'No such request.');
    return request;
  }

  private async handle(event: DomainEvent): Promise<void> {
    // The vendor's screen shows who watches; chat has nothing to change.
    if (event.type === 'session.watchers_changed') return;
    // Two files of one session may change state in the same millisecond: a file's events name it.
    const digest = createHash('sha256')
      .update(JSON.stringify([event.type, event.requestId, event.state, event.at, event.sessionId ?? '', ...(event.fileId === undefined ? [] : [event.fileId])]))
      .digest('hex');
    if (!(await this.#deps.store.claimEvent(digest))) return;
    const request = await this.request(event.requestId);
    switch (event.type) {
      case 'request.created':
        return this.postRequest(request);
      case 'session.started':
        return this.postSession(request, event.sessionId);
      case 'session.ended':
        return this.endSession(request, event.sessionId, event.reason);
      case 'grant.ending_soon':
        return this.endingSoon(request, event.sessionId, event.minutesLeft ?? 0);
      case 'session.observer_changed':
        return this.observerChanged(request, event.sessionId, event.reason ?? '');
      case 'session.file':
        return this.fileChanged(request, event.fileId);
      default:
        return this.refreshRequest(request);
    }
  }

  private async requestCard(request: AccessRequest): Promise<ChatMessage> {
    const { store, inventory, links } = this.#deps;
    const machine = await inventory.machine(request.machine.id);
    const decidable = request.state === 'pending' && machine?.chatDecision === 'allowed';
    const nonce = decidable ? await store.nonce(nonceScope('approve', request.id), new Date(request.timing.decideBy)) : undefined;
    return requestMessage(request, machine, links, { nonce });
  }

  private async postRequest(request: AccessRequest): Promise<void> {
    const card = await this.requestCard(request);
    await this.postAll(`request:${request.id}`, request, 'approvers', card);
    // A decision taken while the cards were being posted may have missed the new copies.
    const now = await this.request(request.id);
    if (now.state !== request.state || now.approvals.length !== request.approvals.length) await this.refreshRequest(now);
  }

  private async refreshRequest(request: AccessRequest): Promise<void> {
    if (request.state !== 'pending') await this.#deps.store.dropNonce(nonceScope('approve', request.id));
    if (request.state === 'ended' || request.state === 'revoked') await this.#deps.store.dropNonce(nonceScope('extend', request.id));
    await this.updateAll(`request:${request.id}`, await this.requestCard(request));
  }

  private async postSession(request: AccessRequest, sessionId: string | undefined): Promise<void> {
    if (sessionId === undefined) return;
    const nonce = await this.#deps.store.nonce(nonceScope('terminate', request.id, sessionId), keepUntil(request));
    await this.postAll(`session:${sessionId}`, request, 'approvers', sessionMessage(request, sessionId, this.#deps.links, { nonce }));
  }

  /** The session's own message says it is over, with its recording: no second message. */
  private async endSession(request: AccessRequest, sessionId: string | undefined, reason: string | undefined): Promise<void> {
    if (sessionId === undefined) return;
    await this.#deps.store.dropNonce(nonceScope('terminate', request.id, sessionId));
    await this.updateAll(`session:${sessionId}`, sessionMessage(request, sessionId, this.#deps.links, { nonce: undefined, endedReason: reason ?? 'disconnected' }));
    await this.updateAll(`observer:${sessionId}`, observerMessage(request, sessionId, this.#deps.links, 'ended'));
  }

  /**
   * The window ends soon: the approvers' session message says so (updated, not a new post), and
   * the vendor alone gets Extend in a direct message; only their click may file an extension.
   */
  private async endingSoon(request: AccessRequest, sessionId: string | undefined, minutesLeft: number): Promise<void> {
    const { store, links } = this.#deps;
    if (sessionId !== undefined) {
      const terminate = await store.currentNonce(nonceScope('terminate', request.id, sessionId));
      await this.updateAll(`session:${sessionId}`, sessionMessage(request, sessionId, links, { nonce: terminate, endingInMinutes: minutesLeft }));
    }
    const nonce = await store.nonce(nonceScope('extend', request.id), new Date(request.grant?.end ?? request.windowEnd));
    await this.postAll(`extend:${request.id}`, request, 'vendor', endingSoonMessage(request, minutesLeft, links, { nonce }));
  }

  /**
   * Required observer: a session waiting for a plant observer gets a message with Watch for the
   * site's approvers; later changes (observed, waiting again, ended by the limit) update it.
   */
  private async observerChanged(request: AccessRequest, sessionId: string | undefined, state: string): Promise<void> {
    if (sessionId === undefined) return;
    const subject = `observer:${sessionId}`;
    const message = observerMessage(request, sessionId, this.#deps.links, state);
    const posted = (await this.#deps.store.copies(subject)).length > 0;
    if (state === 'waiting' && !posted) await this.postAll(subject, request, 'approvers', message);
    else if (posted) await this.updateAll(subject, message);
  }

  /**
   * The file airlock: a file waiting for a plant manager gets a message with Release / Deny for
   * the site's approvers, a file blocked as infected a message saying so; once decided (here, on
   * the web or another chat), every copy is updated and its buttons go.
   */
  private async fileChanged(request: AccessRequest, fileId: string | undefined): Promise<void> {
    const files = this.#deps.files;
    if (files === undefined || fileId === undefined) return;
    const { store, links } = this.#deps;
    const subject = `file:${fileId}`;
    const scope = nonceScope('release_file', request.id, undefined, fileId);
    const file = await files.file(fileId);
    if (file === undefined) return;
    const posted = (await store.copies(subject)).length > 0;
    if (!posted && (file.state === 'awaiting_approval' || file.state === 'blocked')) {
      const nonce = file.state === 'awaiting_approval' ? await store.nonce(scope, keepUntil(request)) : undefined;
      await this.postAll(subject, request, 'approvers', fileMessage(request, file, links, { nonce }));
      // A decision taken while the messages were being posted may have missed the new copies.
      const now = await files.file(fileId);
      if (now !== undefined && now.state !== file.state) await this.fileDecided(request, subject, scope, now);
      return;
    }
    if (posted && file.state !== 'awaiting_approval') await this.fileDecided(request, subject, scope, file);
  }

  private async fileDecided(request: AccessRequest, subject: string, scope: string, file: Parameters<typeof fileMessage>[1]): Promise<void> {
    await this.#deps.store.dropNonce(scope);
    await this.updateAll(subject, fileMessage(request, file, this.#deps.links, { nonce: undefined }));
  }

  /** Posts to every destination; one failing destination does not stop the others. */
  private async postAll(subject: string, request: AccessRequest, audience: Audience, message: ChatMessage): Promise<void> {
    const { store, log } = this.#deps;
    const targets = await this.destinations(request, audience);
    await Promise.all(
      targets.map(async ({ adapter, to }) => {
        try {
          const copy = await adapter.post(to, message);
          await store.addCopy(subject, copy, keepUntil(request));
        } catch (err) {
          this.#deps.metrics?.chatDeliveryFailures.inc({ platform: adapter.platform, operation: 'post' });
          log.warn({ err: { message: errorMessage(err) }, platform: adapter.platform, subject }, 'chat message not posted');
        }
      }),
    );
  }

  private async updateAll(subject: string, message: ChatMessage): Promise<void> {
    const { adapters, store, log } = this.#deps;
    const copies = await store.copies(subject);
    await Promise.all(
      copies
        .filter((c) => c.updatable)
        .map(async (copy: CopyRef) => {
          try {
            await adapters.get(copy.platform)?.update(copy, message);
          } catch (err) {
            this.#deps.metrics?.chatDeliveryFailures.inc({ platform: copy.platform, operation: 'update' });
            log.warn({ err: { message: errorMessage(err) }, platform: copy.platform, subject }, 'chat message not updated');
          }
        }),
    );
  }

  /** The site's configured channels and webhooks, plus direct messages to linked approvers (and the vendor). */
  private async destinations(request: AccessRequest, audience: Audience): Promise<Array<{ adapter: ChatAdapter; to: Destination }>> {
    const { chat, adapters, store } = this.#deps;
    const siteId = request.machine.siteId;
    const route = chat.sites[siteId];
    const out: Array<{ adapter: ChatAdapter; to: Destination }> = [];
    const add = (platform: Platform, to: Destination) => {
      const adapter = adapters.get(platform);
      if (adapter !== undefined) out.push({ adapter, to });
    };
    if (audience === 'vendor') {
      for (const link of await store.linksOf(request.requester.id)) add(link.identity.platform, { kind: 'direct', user: link.identity });
      return out;
    }
    if (route?.slack?.channel !== undefined) add('slack', { kind: 'channel', channel: route.slack.channel });
    if (route?.mattermost?.channelId !== undefined) add('mattermost', { kind: 'channel', channel: route.mattermost.channelId });
    if (route?.teams?.conversationId !== undefined && route.teams.serviceUrl !== undefined) {
      add('teams', { kind: 'channel', channel: route.teams.conversationId, serviceUrl: route.teams.serviceUrl });
    }
    if (route?.teams?.webhookUrl !== undefined) add('teams', { kind: 'webhook', url: route.teams.webhookUrl });

    const dmPlatforms = new Set<Platform>();
    if (route?.slack?.directMessages === true) dmPlatforms.add('slack');
    if (route?.teams?.directMessages === true) dmPlatforms.add('teams');
    if (route?.mattermost?.directMessages === true) dmPlatforms.add('mattermost');
    if (dmPlatforms.size === 0) return out;
    for (const link of await store.allLinks()) {
      if (!dmPlatforms.has(link.identity.platform)) continue;
      // Routing only (whom to show the card): the click itself is checked against a fresh identity.
      const profile = (await store.profile(link.userId))?.user;
      if (profile === undefined || !mayDecide(profile, { siteId, requesterId: request.requester.id })) continue;
      add(link.identity.platform, { kind: 'direct', user: link.identity });
    }
    return out;
  }
}
