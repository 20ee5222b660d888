// The chat integration as a portal plugin: on when AIRLOCK_CHAT_FILE is set. It builds the
// adapters the file configures, one approval core for all of them, the notifier that turns
// domain events into messages, and the callback and linking routes; whenever the IdP vouches for
// a user (sign-in, re-validation) it refreshes the user's chat profile (roles, sites, Entra
// object id for Teams linking), and forgets it when the user signs out.
import { Router } from 'express';
import type { PluginFactory } from '../plugins/contract.ts';
import { sourceRateLimit, userRateLimit } from '../http/rate-limit.ts';
import { loadChatFile } from './config.ts';
import { ApprovalCore, CALLBACK_REFUSED_ACTION, type TerminateSession } from './core.ts';
import { AggregatedAudit } from '../audit/aggregated.ts';
import { portalLinks } from './messages.ts';
import type { ChatAdapter, Platform } from './model.ts';
import { ChatNotifier } from './notifier.ts';
import { chatLinkRoutes } from './routes.ts';
import { MattermostAdapter } from './mattermost.ts';
import { SlackAdapter } from './slack.ts';
import { ChatStore } from './store.ts';
import { TeamsAdapter } from './teams.ts';

/** The platform a callback path names (/chat/<platform>/…), or null: never the caller's free text. */
function platformOf(path: string): Platform | null {
  const named = /^\/(slack|teams|mattermost)\//.exec(path)?.[1];
  return named === 'slack' || named === 'teams' || named === 'mattermost' ? named : null;
}

/** Link attempts per user per minute: typing a code twice is normal, guessing is not. */
const LINK_ATTEMPTS_PER_MINUTE = 10;

export interface ChatPluginOptions {
  /** Overrides the broker's kill switch (tests); by default Terminate ends the session through it. */
  terminateSession?: TerminateSession;
}

export function chatPluginFactory(options: ChatPluginOptions = {}): PluginFactory {
  return async (ctx) => {
    if (ctx.config.chatFile === undefined) return undefined;
    const chat = loadChatFile(ctx.config.chatFile, { production: ctx.config.production });
    const log = ctx.log.child({ plugin: 'chat' });
    const store = new ChatStore(ctx.redis);
    const adapters = new Map<Platform, ChatAdapter>();
    if (chat.slack !== undefined) adapters.set('slack', new SlackAdapter(chat.slack, { store, log }));
    if (chat.teams !== undefined) adapters.set('teams', new TeamsAdapter(chat.teams.bot, { store, log }));
    if (chat.mattermost !== undefined) adapters.set('mattermost', new MattermostAdapter(chat.mattermost, { store, log, publicUrl: ctx.config.publicUrl }));

    // Forged and foreign callbacks, and the callback limit's 429s: audited, aggregated.
    const refused = new AggregatedAudit({ audit: ctx.audit, log, windowMs: ctx.config.broker.refusalAuditWindowMs });
    const core = new ApprovalCore({
      chat,
      store,
      requests: ctx.requests,
      inventory: ctx.inventory,
      audit: ctx.audit,
      refused,
      log,
      adapters,
      terminateSession: options.terminateSession ?? ((user, sessionId, opts) => ctx.sessions.terminate(user, sessionId, 'terminated from chat', opts)),
      files: ctx.files,
      identity: ctx.identity,
    });
    const notifier = new ChatNotifier({
      chat,
      store,
      requests: ctx.requests,
      inventory: ctx.inventory,
      events: ctx.events,
      log,
      links: portalLinks(ctx.config.publicUrl),
      adapters,
      files: ctx.files,
      metrics: ctx.metrics,
    });
    notifier.start();
    for (const adapter of adapters.values()) adapter.start?.(core);

    const router = Router();
    // Callbacks are unauthenticated until their signature or token is checked (HMAC, JWKS, API
    // look-ups): limit them per source first, so a flood costs a counter, not that work.
    router.use(
      '/chat',
      sourceRateLimit(ctx.redis, 'chat-callback', ctx.config.rateLimits.chatCallbacksPerMinute, {
        onLimited: (req, key) =>
          refused.recordQuietly({ source: key, action: CALLBACK_REFUSED_ACTION, reason: 'rate_limited', actor: null, target: null, details: { platform: platformOf(req.path), ip: req.ip ?? null } }),
      }),
    );
    for (const adapter of adapters.values()) router.use(adapter.routes(core));
    router.use(
      chatLinkRoutes({
        chat,
        store,
        audit: ctx.audit,
        identity: ctx.identity,
        platforms: [...adapters.keys()],
        linkLimit: userRateLimit(ctx.redis, 'chat-link', LINK_ATTEMPTS_PER_MINUTE),
      }),
    );
    log.info({ platforms: [...adapters.keys()], sites: Object.keys(chat.sites) }, 'chat integration configured');
    return {
      name: 'chat',
      routes: () => router,
      async onSignedOut(userId) {
        await store.forgetProfile(userId);
      },
      async onIdentityValidated(user, validatedAt) {
        const { entraConflict } = await store.saveProfile(user, chat.linking.profileMaxAgeMs, validatedAt);
        if (!entraConflict) return;
        // Two Airlock accounts claiming one Entra object id: one of the identity providers is lying
        // or misconfigured. The earlier binding stands; this one links nobody in Teams.
        log.warn({ userId: user.id, provider: user.provider }, 'entra object id already bound to another user');
        await ctx.audit.append({
          actor: { id: user.id, name: user.name },
          action: 'chat.entra_id_refused',
          target: null,
          outcome: 'refused',
          reason: 'entra_id_in_use',
          details: { provider: user.provider },
          site: null,
        });
      },
      async stop() {
        await Promise.all([...adapters.values()].map((a) => a.stop?.()));
        await notifier.stop();
        await refused.stop();
      },
    };
  };
}
