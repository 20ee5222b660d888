// The chat integration as a portal plugin: on when AIRLOCK_CHAT_FILE is set. It builds the
// adapters the file configures, one approval core for all of them, the notifier that turns
// domain events into messages, and the callback and linking routes.
import { Router } from 'express';
import type { PluginFactory } from '../plugins.ts';
import { userRateLimit } from '../http/rate-limit.ts';
import { loadChatFile } from './config.ts';
import { ApprovalCore, type TerminateSession } from './core.ts';
import { portalLinks } from './messages.ts';
import type { ChatAdapter, Platform } from './model.ts';
import { ChatNotifier } from './notifier.ts';
import { chatLinkRoutes } from './routes.ts';
import { MattermostAdapter } from './mattermost.ts';
import { SlackAdapter } from './slack.ts';
import { ChatStore } from './store.ts';
import { TeamsAdapter } from './teams.ts';

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

    const core = new ApprovalCore({
      chat,
      store,
      requests: ctx.requests,
      inventory: ctx.inventory,
      audit: ctx.audit,
      log,
      adapters,
      terminateSession: options.terminateSession ?? ((user, sessionId) => ctx.broker.terminate(user, sessionId, 'terminated from chat')),
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
    });
    notifier.start();

    const router = Router();
    for (const adapter of adapters.values()) router.use(adapter.routes(core));
    router.use(
      chatLinkRoutes({
        chat,
        store,
        audit: ctx.audit,
        platforms: [...adapters.keys()],
        linkLimit: userRateLimit(ctx.redis, 'chat-link', LINK_ATTEMPTS_PER_MINUTE),
      }),
    );
    log.info({ platforms: [...adapters.keys()], sites: Object.keys(chat.sites) }, 'chat integration configured');
    return {
      name: 'chat',
      routes: () => router,
      stop: () => notifier.stop(),
    };
  };
}
