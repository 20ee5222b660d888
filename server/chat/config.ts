// The chat configuration file (AIRLOCK_CHAT_FILE): which platforms are on, their credentials,
// and where each site's approval messages go. Validated once at start-up; a bad file stops the
// portal with a ConfigError naming the key at fault. A platform is on when its section exists.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config.ts';
import { errorMessage } from '../errors.ts';

const VARIABLE = 'AIRLOCK_CHAT_FILE';

/** A secret inline or, better, in a file of its own (`xxxFile`), read once here. */
const secret = (min: number) => z.string().trim().min(min, `at least ${min} characters`);

const isLoopbackHttp = (url: string): boolean => /^http:\/\/(localhost|127\.0\.0\.1)(:\d+)?(\/|$)/.test(url);

/**
 * The file's schema. Platform URLs must be https; `allowLoopbackHttp` (the local fakes in demo
 * and test runs, never production) also accepts plain http on loopback.
 */
function chatFileSchema(allowLoopbackHttp: boolean) {
  const platformUrl = z.url().refine((u) => u.startsWith('https://') || (allowLoopbackHttp && isLoopbackHttp(u)), 'must be an https:// URL');

  const slack = z
    .strictObject({
      botToken: secret(10).optional(),
      botTokenFile: z.string().optional(),
      signingSecret: secret(16).optional(),
      signingSecretFile: z.string().optional(),
      /** Socket Mode (plants without inbound internet): clicks arrive over a WebSocket the portal opens. */
      socketMode: z.boolean().default(false),
      /** The app-level token (`xapp-…`, scope `connections:write`) that opens Socket Mode connections. */
      appToken: secret(10).startsWith('xapp-', 'an app-level token starts with xapp-').optional(),
      appTokenFile: z.string().optional(),
      /** Workspaces (team ids, T…) whose clicks are accepted; anything else is refused. */
      allowedTeams: z.array(z.string().min(1)).min(1),
      /** The Slack app ids (A…) whose callbacks are accepted. */
      allowedApps: z.array(z.string().min(1)).min(1),
      apiUrl: platformUrl.default('https://slack.com/api'),
    })
    .refine((s) => (s.botToken ?? s.botTokenFile) !== undefined, { message: 'botToken or botTokenFile is required', path: ['botToken'] })
    // Over HTTP, the signature is what makes a callback authentic; in Socket Mode the app token is.
    .refine((s) => s.socketMode || (s.signingSecret ?? s.signingSecretFile) !== undefined, {
      message: 'signingSecret or signingSecretFile is required (unless socketMode is on)',
      path: ['signingSecret'],
    })
    .refine((s) => !s.socketMode || (s.appToken ?? s.appTokenFile) !== undefined, { message: 'socketMode needs appToken or appTokenFile', path: ['appToken'] });

  const teamsBot = z
    .strictObject({
      /** The bot's Microsoft App ID: the audience of every inbound token. */
      appId: z.string().min(1),
      appPassword: secret(8).optional(),
      appPasswordFile: z.string().optional(),
      /** Entra tenants whose users' clicks are accepted. */
      allowedTenants: z.array(z.string().min(1)).min(1),
      /** Bot Framework's token issuer, key set and token endpoint (defaults: the public cloud). */
      issuer: z.string().min(1).default('https://api.botframework.com'),
      jwksUrl: platformUrl.default('https://login.botframework.com/v1/.well-known/keys'),
      tokenUrl: platformUrl.default('https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token'),
      /** Service URLs the bot talks to; an inbound activity's serviceUrl must be one of them. */
      allowedServiceUrls: z.array(platformUrl).min(1).default(['https://smba.trafficmanager.net/teams/']),
    })
    .refine((t) => (t.appPassword ?? t.appPasswordFile) !== undefined, { message: 'appPassword or appPasswordFile is required', path: ['appPassword'] });

  const mattermost = z
    .strictObject({
      /** The Mattermost server, e.g. https://chat.plant.example. */
      url: platformUrl,
      botToken: secret(10).optional(),
      botTokenFile: z.string().optional(),
      /** Keys the HMAC carried in each button's context (Mattermost does not sign callbacks). */
      contextSecret: secret(32).optional(),
      contextSecretFile: z.string().optional(),
      /** Mattermost teams whose clicks are accepted. */
      allowedTeams: z.array(z.string().min(1)).min(1),
    })
    .refine((m) => (m.botToken ?? m.botTokenFile) !== undefined, { message: 'botToken or botTokenFile is required', path: ['botToken'] })
    .refine((m) => (m.contextSecret ?? m.contextSecretFile) !== undefined, { message: 'contextSecret or contextSecretFile is required', path: ['contextSecret'] });

  const siteRoute = z.strictObject({
    slack: z.strictObject({ channel: z.string().min(1).optional(), directMessages: z.boolean().default(false) }).optional(),
    teams: z
      .strictObject({
        /** A channel or group chat the bot is installed in (needs `teams.bot`), with its service URL. */
        conversationId: z.string().min(1).optional(),
        serviceUrl: platformUrl.optional(),
        /** Without a bot: an incoming-webhook URL that gets plain "Open in Airlock" cards. */
        webhookUrl: platformUrl.optional(),
        directMessages: z.boolean().default(false),
      })
      .refine((t) => (t.conversationId === undefined) === (t.serviceUrl === undefined), { message: 'conversationId and serviceUrl go together' })
      .optional(),
    mattermost: z.strictObject({ channelId: z.string().min(1).optional(), directMessages: z.boolean().default(false) }).optional(),
  });

  return z.strictObject({
    linking: z
      .strictObject({
        /** Link a chat user to the Airlock account with the same verified email. Off unless an admin turns it on. */
        matchByEmail: z.boolean().default(false),
        /** How long a one-time link code stays valid. */
        codeTtlSeconds: z.number().int().min(60).max(3600).default(600),
        /** A linked user's roles and sites are snapshotted when they use Airlock; older snapshots do not count in chat. */
        profileMaxAgeHours: z.number().int().min(1).max(24 * 30).default(7 * 24),
      })
      .prefault({}),
    slack: slack.optional(),
    /** `teams: {}` (no bot): plain "Open in Airlock" cards through the sites' webhooks only. */
    teams: z.strictObject({ bot: teamsBot.optional() }).optional(),
    mattermost: mattermost.optional(),
    /** Site id → where its messages go. */
    sites: z.record(z.string().min(1), siteRoute).default({}),
    /** Demo and test runs only (refused in production): platform URLs may be http on loopback, for the local fakes. */
    allowInsecureLoopbackUrls: z.boolean().default(false),
  });
}

export interface SlackConfig {
  readonly botToken: string;
  /** Undefined in a Socket-Mode-only set-up: then there is no HTTP Request URL at all. */
  readonly signingSecret: string | undefined;
  /** The app-level token when Socket Mode is on; undefined otherwise. */
  readonly appToken: string | undefined;
  readonly allowedTeams: readonly string[];
  readonly allowedApps: readonly string[];
  readonly apiUrl: string;
}

export interface TeamsBotConfig {
  readonly appId: string;
  readonly appPassword: string;
  readonly allowedTenants: readonly string[];
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly tokenUrl: string;
  readonly allowedServiceUrls: readonly string[];
}

export interface MattermostConfig {
  readonly url: string;
  readonly botToken: string;
  readonly contextSecret: string;
  readonly allowedTeams: readonly string[];
}

export type SiteRoute = z.infer<ReturnType<typeof chatFileSchema>>['sites'][string];

export interface ChatConfig {
  readonly linking: { readonly matchByEmail: boolean; readonly codeTtlSeconds: number; readonly profileMaxAgeMs: number };
  readonly slack: SlackConfig | undefined;
  /** Undefined: no Teams at all; `{bot: undefined}`: webhook cards only. */
  readonly teams: { readonly bot: TeamsBotConfig | undefined } | undefined;
  readonly mattermost: MattermostConfig | undefined;
  readonly sites: Readonly<Record<string, SiteRoute>>;
}

function fromFile(key: string, inline: string | undefined, file: string | undefined): string {
  if (inline !== undefined) return inline;
  try {
    return readFileSync(file ?? '', 'utf8').trim();
  } catch {
    throw new ConfigError(VARIABLE, `${key}File: cannot read ${file}`);
  }
}

/** A token read from a file is checked here: the schema only saw its path. */
function appTokenOf(token: string): string {
  if (!token.startsWith('xapp-')) throw new ConfigError(VARIABLE, 'slack.appToken: an app-level token starts with xapp-');
  return token;
}

export function parseChatConfig(raw: unknown, opts: { production: boolean }): ChatConfig {
  const insecure = typeof raw === 'object' && raw !== null && (raw as Record<string, unknown>)['allowInsecureLoopbackUrls'] === true;
  if (insecure && opts.production) throw new ConfigError(VARIABLE, 'allowInsecureLoopbackUrls is refused with NODE_ENV=production');
  const parsed = chatFileSchema(insecure).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(VARIABLE, `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  const file = parsed.data;
  const { slack, teams, mattermost } = file;
  for (const [siteId, route] of Object.entries(file.sites)) {
    if (route.slack !== undefined && slack === undefined) throw new ConfigError(VARIABLE, `sites.${siteId}.slack: no slack section`);
    if (route.mattermost !== undefined && mattermost === undefined) throw new ConfigError(VARIABLE, `sites.${siteId}.mattermost: no mattermost section`);
    if (route.teams !== undefined && teams === undefined) throw new ConfigError(VARIABLE, `sites.${siteId}.teams: no teams section`);
    if ((route.teams?.conversationId !== undefined || route.teams?.directMessages === true) && teams?.bot === undefined) {
      throw new ConfigError(VARIABLE, `sites.${siteId}.teams: a conversation or direct messages need teams.bot`);
    }
    const serviceUrl = route.teams?.serviceUrl;
    if (serviceUrl !== undefined && teams?.bot !== undefined && !teams.bot.allowedServiceUrls.includes(serviceUrl)) {
      throw new ConfigError(VARIABLE, `sites.${siteId}.teams.serviceUrl: not in teams.bot.allowedServiceUrls`);
    }
  }
  return Object.freeze({
    linking: Object.freeze({
      matchByEmail: file.linking.matchByEmail,
      codeTtlSeconds: file.linking.codeTtlSeconds,
      profileMaxAgeMs: file.linking.profileMaxAgeHours * 3_600_000,
    }),
    slack:
      slack === undefined
        ? undefined
        : Object.freeze({
            botToken: fromFile('slack.botToken', slack.botToken, slack.botTokenFile),
            signingSecret:
              (slack.signingSecret ?? slack.signingSecretFile) === undefined ? undefined : fromFile('slack.signingSecret', slack.signingSecret, slack.signingSecretFile),
            appToken: slack.socketMode ? appTokenOf(fromFile('slack.appToken', slack.appToken, slack.appTokenFile)) : undefined,
            allowedTeams: slack.allowedTeams,
            allowedApps: slack.allowedApps,
            apiUrl: slack.apiUrl.replace(/\/$/, ''),
          }),
    teams:
      teams === undefined
        ? undefined
        : Object.freeze({
            bot:
              teams.bot === undefined
                ? undefined
                : Object.freeze({
                    appId: teams.bot.appId,
                    appPassword: fromFile('teams.bot.appPassword', teams.bot.appPassword, teams.bot.appPasswordFile),
                    allowedTenants: teams.bot.allowedTenants,
                    issuer: teams.bot.issuer,
                    jwksUrl: teams.bot.jwksUrl,
                    tokenUrl: teams.bot.tokenUrl,
                    allowedServiceUrls: teams.bot.allowedServiceUrls,
                  }),
          }),
    mattermost:
      mattermost === undefined
        ? undefined
        : Object.freeze({
            url: mattermost.url.replace(/\/$/, ''),
            botToken: fromFile('mattermost.botToken', mattermost.botToken, mattermost.botTokenFile),
            contextSecret: fromFile('mattermost.contextSecret', mattermost.contextSecret, mattermost.contextSecretFile),
            allowedTeams: mattermost.allowedTeams,
          }),
    sites: Object.freeze(file.sites),
  });
}

export function loadChatFile(path: string, opts: { production: boolean }): ChatConfig {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(VARIABLE, `cannot read YAML from ${path}: ${errorMessage(err)}`);
  }
  return parseChatConfig(raw, opts);
}
