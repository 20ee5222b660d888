// An ID token issued to another client must not sign anyone in: a real OpenID provider with two
// registered clients mints tokens whose `azp` (and `aud`) name the other one, and the portal's
// callback refuses them with login_audience_mismatch and creates no session.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JWTPayload } from 'jose';
import { startTestPortal, type TestPortal } from './support/portal.ts';
import { Browserless, startLogin, submitLogin } from './support/http.ts';
import { startTestIdp, type TestIdp } from './support/test-idp.ts';
import { freePort } from '../dev/probes.ts';

const PORTAL_CLIENT = 'airlock-portal';
const OTHER_CLIENT = 'plant-wiki';
const PASSWORD = 'azp-test-password';

/** Per account, the audience and authorized party its ID token carries (undefined: as issued). */
const SHAPES: Record<string, { aud?: string | string[]; azp?: string | null }> = {
  'as-issued': {},
  'own-azp': { azp: PORTAL_CLIENT },
  'foreign-azp': { azp: OTHER_CLIENT },
  'several-own-azp': { aud: [PORTAL_CLIENT, OTHER_CLIENT], azp: PORTAL_CLIENT },
  'several-foreign-azp': { aud: [PORTAL_CLIENT, OTHER_CLIENT], azp: OTHER_CLIENT },
  'several-no-azp': { aud: [PORTAL_CLIENT, OTHER_CLIENT], azp: null },
};

let idp: TestIdp;
let portal: TestPortal;

function reshape(claims: JWTPayload): JWTPayload {
  const shape = SHAPES[String(claims.sub)] ?? {};
  const out: JWTPayload = { ...claims };
  if (shape.aud !== undefined) out.aud = shape.aud;
  if (shape.azp === null) delete out['azp'];
  else if (shape.azp !== undefined) out['azp'] = shape.azp;
  return out;
}

beforeAll(async () => {
  const port = await freePort();
  const publicUrl = `http://localhost:${port}`;
  idp = await startTestIdp({
    clients: [
      { clientId: PORTAL_CLIENT, redirectUris: [`${publicUrl}/auth/callback/test`] },
      { clientId: OTHER_CLIENT, redirectUris: ['http://127.0.0.1:1/callback'] },
    ],
    accounts: Object.keys(SHAPES).map((sub) => ({ sub, name: `Auditor ${sub}`, groups: ['auditors'] })),
    password: PASSWORD,
    reshapeIdToken: reshape,
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'airlock-azp-'));
  const identityFile = idp.identityFile(dir, { providerId: 'test', clientId: PORTAL_CLIENT, groups: { auditors: { roles: ['auditor'] } } });
  portal = await startTestPortal({ AIRLOCK_PORT: String(port), AIRLOCK_PUBLIC_URL: publicUrl, AIRLOCK_IDENTITY_FILE: identityFile });
});

afterAll(async () => {
  await portal?.close();
  await idp?.close();
});

async function signIn(username: string): Promise<{ agent: Browserless; status: number; code: string | undefined }> {
  const agent = new Browserless(portal.publicUrl);
  const callback = await submitLogin(agent, await startLogin(agent), username, PASSWORD);
  const res = await agent.get(callback, { accept: 'application/json' });
  const code = res.status === 303 ? undefined : res.json<{ error: { code: string } }>().error.code;
  return { agent, status: res.status, code };
}

describe('the ID token must be ours: azp checked when present', () => {
  test.each([
    ['as-issued', 'a token as the IdP issues it (no azp)'],
    ['own-azp', 'azp naming the portal'],
    ['several-own-azp', 'several audiences with azp naming the portal'],
  ])('%s is accepted (%s)', async (username) => {
    const { agent, status } = await signIn(username);
    expect(status).toBe(303);
    expect((await agent.get('/api/me')).json<{ user: { roles: string[] } }>().user.roles).toEqual(['auditor']);
  });

  test.each([
    ['foreign-azp', 'one audience (the portal) but azp naming another client'],
    ['several-foreign-azp', 'several audiences and azp naming another client'],
    ['several-no-azp', 'several audiences and no azp'],
  ])('%s is refused (%s) and signs nobody in', async (username) => {
    const { agent, status, code } = await signIn(username);
    expect(status).toBe(400);
    expect(code).toBe('login_audience_mismatch');
    expect((await agent.get('/api/me')).status).toBe(401);
  });
});
