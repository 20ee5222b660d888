// The portal side of identity linking (docs/api.md, "Chat accounts"): list the caller's linked
// chat accounts, link one with the one-time code the bot sent, unlink. Visiting these routes
// also re-saves the role snapshot chat uses, as fresh as the sign-in's last IdP validation (a
// stale session cannot make it look fresh).
import { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AirlockUser } from '../user.ts';
import type { AuditLog } from '../audit/store.ts';
import { badRequest, notFound } from '../errors.ts';
import { route } from '../http/validate.ts';
import type { ChatConfig } from './config.ts';
import type { Platform } from './model.ts';
import type { ChatLink, ChatStore } from './store.ts';
import type { FreshIdentity } from '../auth/freshness.ts';

const linkBody = z.strictObject({ code: z.string().trim().min(1).max(32) });
const linkParams = z.strictObject({ id: z.string().regex(/^[0-9a-f]{32}$/) });

/** A linked chat account as its owner sees it in "Chat accounts". */
export interface ChatLinkView {
  id: string;
  platform: Platform;
  workspace: string;
  chatUser: string;
  linkedAt: string;
  method: ChatLink['method'];
}

/** GET /api/chat/links: the caller's links and what linking offers here. */
export interface ChatLinksView {
  links: ChatLinkView[];
  platforms: readonly Platform[];
  matchByEmail: boolean;
  profileMaxAgeHours: number;
}

function presentLink(link: ChatLink): ChatLinkView {
  return {
    id: link.id,
    platform: link.identity.platform,
    workspace: link.identity.workspace,
    chatUser: link.identity.displayName ?? link.identity.userId,
    linkedAt: link.linkedAt,
    method: link.method,
  };
}

export interface ChatLinkDeps {
  chat: ChatConfig;
  store: ChatStore;
  audit: AuditLog;
  /** The sign-in behind a browser session, as last validated with the IdP. */
  identity: { sessionIdentity(browserSessionId: string): Promise<FreshIdentity | undefined> };
  platforms: readonly Platform[];
  linkLimit: RequestHandler;
}

export function chatLinkRoutes(deps: ChatLinkDeps): Router {
  const { chat, store, audit } = deps;
  const router = Router();
  const seen = async (req: Request): Promise<void> => {
    const signIn = await deps.identity.sessionIdentity(req.session.id);
    if (signIn !== undefined) await store.saveProfile(signIn.user, chat.linking.profileMaxAgeMs, signIn.validatedAt);
  };
  const auditLink = (user: AirlockUser, action: string, outcome: 'ok' | 'refused', reason: string | null, details: Record<string, unknown>) =>
    audit.append({ actor: { id: user.id, name: user.name }, action, target: null, outcome, reason, details, site: null });

  router.get(
    '/api/chat/links',
    route({}, async ({ user, req }): Promise<ChatLinksView> => {
      await seen(req);
      return {
        links: (await store.linksOf(user.id)).map(presentLink),
        platforms: deps.platforms,
        matchByEmail: chat.linking.matchByEmail,
        profileMaxAgeHours: Math.round(chat.linking.profileMaxAgeMs / 3_600_000),
      };
    }),
  );

  router.post(
    '/api/chat/links',
    deps.linkLimit,
    route(
      { body: linkBody },
      async ({ user, body, req }) => {
        const identity = await store.redeemCode(body.code);
        if (identity === undefined) {
          await auditLink(user, 'chat.link', 'refused', 'invalid_link_code', {});
          throw badRequest('invalid_link_code', 'This code is unknown, used or expired. Click an Airlock button in chat to get a new one.');
        }
        const link = await store.link(identity, user.id, 'code');
        await seen(req);
        await auditLink(user, 'chat.linked', 'ok', null, { platform: identity.platform, workspace: identity.workspace, chatUser: identity.userId, method: 'code' });
        return { link: presentLink(link) };
      },
      201,
    ),
  );

  router.delete(
    '/api/chat/links/:id',
    route({ params: linkParams }, async ({ user, params }) => {
      const link = await store.unlink(user.id, params.id);
      if (link === undefined) throw notFound('unknown_link', 'No such linked chat account.');
      await auditLink(user, 'chat.unlinked', 'ok', null, { platform: link.identity.platform, workspace: link.identity.workspace, chatUser: link.identity.userId });
      return undefined;
    }),
  );

  return router;
}
