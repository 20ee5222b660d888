// The embedded development OpenID provider (oidc-provider), for the demo and the tests only:
// one account per Airlock role, a plain login form with a second factor (a TOTP per account,
// asked for when the portal requests it with `acr_values`, or whenever the person enters one),
// consent granted automatically, refresh tokens and back-channel logout as a corporate IdP would
// have them, and a small directory admin surface (change an account's groups, disable it).
// config.ts refuses to enable it with NODE_ENV=production.
import { createHash, createHmac, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import express, { Router, type Request, type Response, type NextFunction } from 'express';
import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { ScureBase32Plugin, verify as verifyTotp } from 'otplib';
import type { IdentityConfig } from '../config.ts';
import { createDevIdpStore } from './dev-idp-store.ts';

export interface DemoAccount {
  readonly username: string;
  readonly name: string;
  readonly email: string;
  readonly groups: readonly string[];
  /** The vendor's company (only vendors have one). */
  readonly company?: string;
  readonly describes: string;
}

export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  { username: 'vera', name: 'Vera Vendor', email: 'vera@acme-automation.example', groups: ['airlock-vendors'], company: 'acme-automation', describes: 'vendor (Acme Automation)' },
  { username: 'victor', name: 'Victor Vendor', email: 'victor@bolt-robotics.example', groups: ['airlock-vendors'], company: 'bolt-robotics', describes: 'vendor (Bolt Robotics)' },
  { username: 'mona', name: 'Mona Manager', email: 'mona@plant-a.example', groups: ['plant-a-managers'], describes: 'plant manager, site A' },
  { username: 'olga', name: 'Olga Manager', email: 'olga@plant-a.example', groups: ['plant-a-managers'], describes: 'plant manager, site A (second approver)' },
  { username: 'otto', name: 'Otto Observer', email: 'otto@plant-a.example', groups: ['plant-a-observers'], describes: 'plant observer, site A (watches vendors, decides nothing)' },
  { username: 'bruno', name: 'Bruno Manager', email: 'bruno@plant-b.example', groups: ['plant-b-managers'], describes: 'plant manager, site B' },
  { username: 'aude', name: 'Aude Auditor', email: 'aude@airlock.example', groups: ['airlock-auditors'], describes: 'auditor' },
  { username: 'adam', name: 'Adam Admin', email: 'adam@airlock.example', groups: ['airlock-admins'], describes: 'admin' },
];

/** Group → role mapping that goes with the demo accounts. */
export const DEMO_GROUPS: IdentityConfig['groups'] = {
  'airlock-vendors': { roles: ['vendor'], sites: [] },
  'plant-a-managers': { roles: ['approver'], sites: ['site-a'] },
  'plant-b-managers': { roles: ['approver'], sites: ['site-b'] },
  'plant-a-observers': { roles: ['observer'], sites: ['site-a'] },
  'airlock-auditors': { roles: ['auditor'], sites: [] },
  'airlock-admins': { roles: ['admin'], sites: [] },
};

/** Staff whose tokens carry an Entra-style object id (`oid`), as Entra ID sign-ins would. */
const ENTRA_STAFF = new Set(['mona', 'olga', 'bruno']);

/** A stable fake Entra object id (a UUID derived from the username), for the dev IdP and tests. */
export function demoEntraObjectId(username: string): string {
  const h = createHash('sha256').update(`airlock-demo-entra-oid:${username}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export const DEV_IDP_MOUNT = '/dev-idp';
export const DEV_CLIENT_ID = 'airlock-portal';

/** The dev IdP's authentication levels (`acr`): a password alone, or a password and a one-time code. */
export const DEV_ACR_PASSWORD = 'urn:airlock:dev-idp:pwd';
export const DEV_ACR_MFA = 'urn:airlock:dev-idp:mfa';

/** Bytes of a TOTP secret: 160 bits, RFC 4226's recommendation and what authenticator apps expect. */
const TOTP_SECRET_BYTES = 20;
/**
 * A code of the previous 30-second step is still accepted (RFC 6238 §5.2 allows one step of
 * delay): typing a code takes a few seconds. Codes from the future are not.
 */
const TOTP_PAST_TOLERANCE_S = 30;

/**
 * A demo account's TOTP secret (base32, for any authenticator app): derived from the run's IdP
 * password, so the demo banner and the tests know it without the IdP telling anyone.
 */
export function demoTotpSecret(password: string, username: string): string {
  const bytes = createHmac('sha256', password).update(`airlock-demo-totp:${username}`).digest().subarray(0, TOTP_SECRET_BYTES);
  return new ScureBase32Plugin().encode(new Uint8Array(bytes));
}

export interface DevIdpOptions {
  /** Full issuer URL, ending with the mount path (e.g. http://localhost:8080/dev-idp). */
  issuer: string;
  redirectUris: string[];
  clientSecret: string;
  /** The one password every demo account accepts (generated per run unless configured). */
  password: string;
  /** The portal's back-channel logout endpoint for this client (OpenID Connect Back-Channel Logout 1.0). */
  backchannelLogoutUri: string;
  /** How long an IdP sign-in (and the refresh tokens bound to it) lasts: as long as the portal's sessions. */
  sessionTtlSeconds: number;
}

/**
 * What an IdP administrator can do to the directory, in process: the change applies to the next
 * token the IdP issues (a refresh, a sign-in), exactly as a group change in Entra or Keycloak does.
 */
export interface DevIdpAdmin {
  /** Replaces the account's groups (e.g. removes a plant manager from `plant-a-managers`). */
  setGroups(username: string, groups: readonly string[]): void;
  /** A disabled account cannot sign in, and the IdP refuses its refresh tokens. */
  setDisabled(username: string, disabled: boolean): void;
  /** Whether the IdP issues refresh tokens at sign-in (off: a provider without them). */
  setRefreshTokens(enabled: boolean): void;
  /** Puts every account back as DEMO_ACCOUNTS defines it, and refresh tokens on. */
  reset(): void;
  /** The IdP's delivery log of back-channel logout tokens (newest last, the last few only). */
  backchannelDeliveries(): readonly { readonly logoutToken: string; readonly status: number }[];
  /** The account's TOTP secret (base32), as the person's authenticator app holds it. */
  totpSecret(username: string): string;
}

/** Enough of the delivery log for a look at what was sent; older entries are dropped. */
const DELIVERY_LOG_LENGTH = 20;

export interface DevIdp {
  readonly issuer: string;
  /** Mount at DEV_IDP_MOUNT: the login form routes plus oidc-provider itself. */
  readonly router: Router;
  readonly admin: DevIdpAdmin;
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function samePassword(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function loginPage(uid: string, opts: { mfaRequested: boolean; error?: string }): string {
  const rows = DEMO_ACCOUNTS.map((a) => `<li><code>${escapeHtml(a.username)}</code> — ${escapeHtml(a.describes)}</li>`).join('');
  const action = `${DEV_IDP_MOUNT}/interaction/${escapeHtml(uid)}`;
  const codeHint = opts.mfaRequested
    ? '<p id="mfa-requested">Airlock asks for your second factor: enter the one-time code of your authenticator app.</p>'
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock demo sign-in</title></head>
<body><main><h1>Airlock demo identity provider</h1>
<p>Development only. Demo accounts (the password and each account's one-time-code secret are printed by <code>npm run demo</code>):</p><ul>${rows}</ul>
${codeHint}${opts.error ? `<p role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="${action}/login">
<label>Username <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<label>One-time code${opts.mfaRequested ? '' : ' (optional)'} <input name="otp" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" maxlength="6"${opts.mfaRequested ? ' required' : ''}></label>
<button type="submit">Sign in</button></form>
<form method="post" action="${action}/abort"><button type="submit">Cancel</button></form></main></body></html>`;
}

/** Whether the authorization request asked for the second factor (`acr_values` naming DEV_ACR_MFA). */
function mfaRequested(params: Record<string, unknown>): boolean {
  const values = params['acr_values'];
  return typeof values === 'string' && values.split(' ').includes(DEV_ACR_MFA);
}

function logoutPage(form: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Airlock demo sign-out</title></head>
<body><main><h1>Sign out of the demo identity provider?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button></main></body></html>`;
}

export function createDevIdp(opts: DevIdpOptions): DevIdp {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'dev-1', use: 'sig', alg: 'RS256' };
  // The directory: what the IdP says of each account now (the admin surface below edits it).
  const accounts = new Map<string, DemoAccount>();
  const disabled = new Set<string>();
  let refreshTokens = true;
  const reset = (): void => {
    accounts.clear();
    for (const a of DEMO_ACCOUNTS) accounts.set(a.username, a);
    disabled.clear();
    refreshTokens = true;
  };
  reset();
  const deliveries: { logoutToken: string; status: number }[] = [];
  const admin: DevIdpAdmin = {
    setGroups(username, groups) {
      const account = accounts.get(username);
      if (account === undefined) throw new Error(`no demo account ${username}`);
      accounts.set(username, { ...account, groups: [...groups] });
    },
    setDisabled(username, off) {
      if (!accounts.has(username)) throw new Error(`no demo account ${username}`);
      if (off) disabled.add(username);
      else disabled.delete(username);
    },
    setRefreshTokens(enabled) {
      refreshTokens = enabled;
    },
    reset,
    backchannelDeliveries: () => [...deliveries],
    totpSecret: (username) => demoTotpSecret(opts.password, username),
  };
  // Step-up: a portal asking for the second factor gets the login form again unless this IdP
  // session already has it (the default policy only honours acr requested as an essential claim).
  const policy = interactionPolicy.base();
  policy.get('login')?.checks.add(
    new interactionPolicy.Check('mfa_requested', 'a second factor is requested', (ctx: KoaContextWithOIDC) =>
      mfaRequested(ctx.oidc.params ?? {}) && ctx.oidc.acr !== DEV_ACR_MFA && ctx.oidc.result?.['login'] === undefined
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
  const backchannelLogoutUri = new URL(opts.backchannelLogoutUri);

  const configuration: Configuration = {
    adapter: createDevIdpStore(),
    clients: [
      {
        client_id: DEV_CLIENT_ID,
        client_secret: opts.clientSecret,
        redirect_uris: opts.redirectUris,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        backchannel_logout_uri: opts.backchannelLogoutUri,
        // ID tokens carry `sid`, and logout tokens name it: Airlock ends that IdP session's sign-ins.
        backchannel_logout_session_required: true,
        // Every ID token says when the person last authenticated (Airlock keeps it per sign-in).
        require_auth_time: true,
      },
    ],
    jwks: { keys: [jwk as unknown as import('oidc-provider').JWK] }, // node's JWK type is wider than the lib's
    // ID tokens carry `acr` (which level) and `amr` (`pwd`, plus `otp` with the second factor).
    acrValues: [DEV_ACR_PASSWORD, DEV_ACR_MFA],
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // acr and amr in every ID token (as Entra ID and most corporate IdPs send them), not only
    // when acr_values asks: Airlock reads them to tell a sign-in with a second factor.
    claims: { openid: ['sub', 'acr', 'amr'], profile: ['name', 'oid'], email: ['email'], groups: ['groups', 'company'] },
    // Put the scope's claims in the ID token itself: Airlock maps roles from it at login.
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx: KoaContextWithOIDC, form: string) => {
          ctx.body = logoutPage(form);
        },
      },
    },
    // A corporate IdP gives a web app refresh tokens (without offline_access they die with the
    // IdP session, so signing out at the IdP also stops Airlock's re-validation).
    issueRefreshToken: async (_ctx: KoaContextWithOIDC, client) => refreshTokens && client.grantTypeAllowed('refresh_token'),
    // The IdP sign-in, its grant and refresh tokens last as long as a portal session: the portal
    // re-validates through them until its own session ends.
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: opts.sessionTtlSeconds,
      Grant: opts.sessionTtlSeconds,
      RefreshToken: opts.sessionTtlSeconds,
    },
    // oidc-provider refuses to call loopback addresses (SSRF protection); the portal it serves
    // sits on loopback in the demo and the tests. Only the portal's own logout endpoint is let through.
    fetch: async (input: string | URL | globalThis.Request, init?: RequestInit) => {
      const target = new URL(input instanceof globalThis.Request ? input.url : input);
      if (target.origin !== backchannelLogoutUri.origin || target.pathname !== backchannelLogoutUri.pathname) throw new Error(`the dev IdP calls only ${backchannelLogoutUri.href}`);
      // `dispatcher` is undici's extension of RequestInit: oidc-provider's SSRF-checking agent.
      const { dispatcher: _ssrfGuard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
      const response = await fetch(target, rest);
      const logoutToken = rest.body instanceof URLSearchParams ? rest.body.get('logout_token') : null;
      if (logoutToken !== null) deliveries.push({ logoutToken, status: response.status });
      deliveries.splice(0, Math.max(0, deliveries.length - DELIVERY_LOG_LENGTH));
      return response;
    },
    interactions: { policy, url: (_ctx: KoaContextWithOIDC, interaction) => `${DEV_IDP_MOUNT}/interaction/${interaction.uid}` },
    async findAccount(_ctx: KoaContextWithOIDC, id: string) {
      const account = accounts.get(id);
      // A disabled account is unknown to the IdP: its refresh tokens are refused (invalid_grant).
      if (account === undefined || disabled.has(id)) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          name: account.name,
          email: account.email,
          groups: [...account.groups],
          ...(account.company === undefined ? {} : { company: account.company }),
          ...(ENTRA_STAFF.has(id) ? { oid: demoEntraObjectId(id) } : {}),
        }),
      };
    },
    // A development IdP asks for no consent: grant what the portal asks for.
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const clientId = ctx.oidc.client?.clientId;
      const accountId = ctx.oidc.session?.accountId;
      if (clientId === undefined || accountId === undefined) return undefined;
      const existing = ctx.oidc.session?.grantIdFor(clientId);
      if (existing) {
        const found = await ctx.oidc.provider.Grant.find(existing);
        if (found) return found;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId });
      grant.addOIDCScope('openid profile email groups');
      await grant.save();
      return grant;
    },
    renderError(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string | undefined }) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1><p>${escapeHtml(out.error_description ?? out.error)}</p>`;
    },
  };
  const provider = new Provider(opts.issuer, configuration);
  // The portal may sit behind a TLS-terminating proxy in demos too.
  provider.proxy = true;

  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  router.get('/interaction/:uid', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const details = await provider.interactionDetails(req, res);
      res.type('html').send(loginPage(details.uid, { mfaRequested: mfaRequested(details.params) }));
    } catch (err) {
      next(err);
    }
  });
  router.post('/interaction/:uid/login', form, async (req: Request, res: Response, next: NextFunction) => {
    try {
      const details = await provider.interactionDetails(req, res);
      const wantsMfa = mfaRequested(details.params);
      const body = req.body as Record<string, unknown>;
      const username = typeof body['username'] === 'string' ? body['username'] : '';
      const password = typeof body['password'] === 'string' ? body['password'] : '';
      const otp = typeof body['otp'] === 'string' ? body['otp'].trim() : '';
      if (!accounts.has(username) || disabled.has(username) || !samePassword(password, opts.password)) {
        res.status(401).type('html').send(loginPage(details.uid, { mfaRequested: wantsMfa, error: 'Unknown user or wrong password.' }));
        return;
      }
      if (otp === '' && wantsMfa) {
        res.status(401).type('html').send(loginPage(details.uid, { mfaRequested: true, error: 'This sign-in needs your one-time code.' }));
        return;
      }
      // A real IdP also refuses a code used before; this one does not, so tests may sign in twice in 30 s.
      const secondFactor = otp !== '' && /^\d{6}$/.test(otp) && (await verifyTotp({ secret: demoTotpSecret(opts.password, username), token: otp, epochTolerance: [TOTP_PAST_TOLERANCE_S, 0] })).valid;
      if (otp !== '' && !secondFactor) {
        res.status(401).type('html').send(loginPage(details.uid, { mfaRequested: wantsMfa, error: 'Wrong or expired one-time code.' }));
        return;
      }
      const login = secondFactor ? { accountId: username, acr: DEV_ACR_MFA, amr: ['pwd', 'otp'] } : { accountId: username, acr: DEV_ACR_PASSWORD, amr: ['pwd'] };
      await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    } catch (err) {
      next(err);
    }
  });
  // The person gives up: the portal's callback gets the IdP's `access_denied`, as from a real IdP.
  router.post('/interaction/:uid/abort', async (req: Request, res: Response, next: NextFunction) => {
    try {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The sign-in was cancelled.' }, { mergeWithLastSubmission: false });
    } catch (err) {
      next(err);
    }
  });
  router.use(provider.callback());
  return { issuer: opts.issuer, router, admin };
}
