// A second, real OpenID provider (oidc-provider) on its own port for suites that need an IdP
// the portal does not embed: several registered clients, and ID tokens whose audience and
// authorized party a test chooses (as a provider minting cross-client tokens would).
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import Provider, { type ClientMetadata, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { decodeJwt, SignJWT, type JWTPayload } from 'jose';
import { createDevIdpStore } from '../../server/auth/dev-idp-store.ts';
import { freePort } from '../../dev/probes.ts';

export interface TestIdpAccount {
  sub: string;
  name: string;
  groups: string[];
  /** A vendor's company (the `company` claim, released with the profile scope). */
  company?: string;
}

export interface TestIdp {
  readonly issuer: string;
  readonly clients: readonly ClientMetadata[];
  /** Writes an identity file trusting this IdP as provider `providerId` for `clientId`; returns its path. */
  identityFile(dir: string, opts: { providerId: string; clientId: string; groups: Record<string, { roles: string[]; sites?: string[] }> }): string;
  close(): Promise<void>;
}

/**
 * Starts the IdP. `reshapeIdToken` may rewrite each ID token's claims before it leaves the
 * token endpoint; the IdP signs the result with its own published key, so the portal sees
 * exactly what a real provider issuing such a token would send.
 */
export async function startTestIdp(opts: {
  clients: Array<{ clientId: string; redirectUris: string[] }>;
  accounts: TestIdpAccount[];
  password: string;
  reshapeIdToken?: (claims: JWTPayload) => JWTPayload;
}): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = 'test-idp-1';
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
  const accounts = new Map(opts.accounts.map((a) => [a.sub, a]));
  const clients: ClientMetadata[] = opts.clients.map((c) => ({
    client_id: c.clientId,
    client_secret: randomBytes(24).toString('base64url'),
    redirect_uris: c.redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }));

  const configuration: Configuration = {
    adapter: createDevIdpStore(),
    clients,
    jwks: { keys: [jwk as unknown as import('oidc-provider').JWK] }, // node's JWK type is wider than the lib's
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], profile: ['name', 'company'], groups: ['groups'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false } },
    // Absolute: the test agent resolves relative redirects against the portal, not the IdP.
    interactions: { url: (_ctx: KoaContextWithOIDC, interaction) => `${issuer}/interaction/${interaction.uid}` },
    async findAccount(_ctx: KoaContextWithOIDC, id: string) {
      const account = accounts.get(id);
      if (account === undefined) return undefined;
      return {
        accountId: id,
        claims: async () => ({ sub: id, name: account.name, groups: [...account.groups], ...(account.company === undefined ? {} : { company: account.company }) }),
      };
    },
    async loadExistingGrant(ctx: KoaContextWithOIDC) {
      const clientId = ctx.oidc.client?.clientId;
      const accountId = ctx.oidc.session?.accountId;
      if (clientId === undefined || accountId === undefined) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId, accountId });
      grant.addOIDCScope('openid profile groups');
      await grant.save();
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);
  const reshape = opts.reshapeIdToken;
  if (reshape !== undefined) {
    provider.use(async (ctx, next) => {
      await next();
      const body = ctx.body as { id_token?: unknown } | undefined;
      if (ctx.oidc?.route !== 'token' || typeof body?.id_token !== 'string') return;
      const claims = reshape(decodeJwt(body.id_token));
      body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey);
    });
  }

  const app = express();
  const form = express.urlencoded({ extended: false, limit: '4kb' });
  app.get('/interaction/:uid', async (req: Request, res: Response, next: NextFunction) => {
    try {
      const details = await provider.interactionDetails(req, res);
      res.type('html').send(`<!doctype html><form method="post" action="${issuer}/interaction/${details.uid}/login">
<input name="username"><input name="password" type="password"><button>Sign in</button></form>`);
    } catch (err) {
      next(err);
    }
  });
  app.post('/interaction/:uid/login', form, async (req: Request, res: Response, next: NextFunction) => {
    try {
      await provider.interactionDetails(req, res);
      const body = req.body as Record<string, unknown>;
      const username = typeof body['username'] === 'string' ? body['username'] : '';
      if (!accounts.has(username) || body['password'] !== opts.password) {
        res.status(401).type('html').send('Unknown user or wrong password.');
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: username } }, { mergeWithLastSubmission: false });
    } catch (err) {
      next(err);
    }
  });
  app.use(provider.callback());
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));

  return {
    issuer,
    clients,
    identityFile(dir, { providerId, clientId, groups }) {
      const client = clients.find((c) => c.client_id === clientId);
      if (client === undefined) throw new Error(`no client ${clientId}`);
      const file = path.join(dir, `identity-${providerId}.json`);
      // JSON is YAML: the portal reads the file with its YAML parser.
      const identity = {
        defaultProvider: providerId,
        providers: [{ id: providerId, label: 'Test IdP', issuer, clientId, clientSecret: client.client_secret, scopes: ['openid', 'profile', 'groups'], allowInsecureRequests: true }],
        groups: Object.fromEntries(Object.entries(groups).map(([g, m]) => [g, { roles: m.roles, sites: m.sites ?? [] }])),
      };
      writeFileSync(file, JSON.stringify(identity), { mode: 0o600 });
      return file;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
