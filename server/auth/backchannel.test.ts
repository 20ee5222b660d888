// Logout-token validation (OpenID Connect Back-Channel Logout 1.0 §2.6), claim by claim, with
// tokens signed here by a key pair of the test's own (pure logic; the real IdP path is in
// test/identity-freshness.test.ts).
import { describe, expect, test } from '@jest/globals';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { verifyLogoutToken } from './backchannel.ts';

const ISSUER = 'https://idp.example';
const CLIENT = 'airlock-portal';
const EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };

const idp = await generateKeyPair('RS256');
const stranger = await generateKeyPair('RS256');
const keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(idp.publicKey)), kid: 'k1', alg: 'RS256' }] });
const now = (): number => Math.floor(Date.now() / 1000);

async function token(claims: JWTPayload, opts: { typ?: string; key?: CryptoKey; alg?: string } = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: CLIENT, iat: now(), jti: crypto.randomUUID(), sub: 'mona', sid: 'idp-session-1', events: EVENT, ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'RS256', kid: 'k1', ...(opts.typ === undefined ? { typ: 'logout+jwt' } : opts.typ === '' ? {} : { typ: opts.typ }) })
    .sign(opts.key ?? idp.privateKey);
}

const verify = (t: string) => verifyLogoutToken(t, { issuer: ISSUER, clientId: CLIENT, keys });

describe('verifyLogoutToken', () => {
  test('a well-formed token names its sub, sid and jti', async () => {
    await expect(verify(await token({ jti: 'j1' }))).resolves.toEqual({ jti: 'j1', subject: 'mona', sid: 'idp-session-1' });
    await expect(verify(await token({ sid: undefined }))).resolves.toMatchObject({ subject: 'mona', sid: undefined });
    await expect(verify(await token({ sub: undefined }))).resolves.toMatchObject({ subject: undefined, sid: 'idp-session-1' });
    // Older IdPs type it JWT or not at all.
    await expect(verify(await token({}, { typ: 'JWT' }))).resolves.toBeDefined();
    await expect(verify(await token({}, { typ: '' }))).resolves.toBeDefined();
  });

  test.each<[string, () => Promise<string>, RegExp]>([
    ['signed by another key', () => token({}, { key: stranger.privateKey }), /does not verify/],
    ['from another issuer', () => token({ iss: 'https://evil.example' }), /does not verify/],
    ['for another client', () => token({ aud: 'someone-else' }), /does not verify/],
    ['without iat', () => token({ iat: undefined }), /does not verify/],
    ['issued long ago', () => token({ iat: now() - 3600 }), /does not verify/],
    ['expired', () => token({ exp: now() - 120 }), /does not verify/],
    ['without jti', () => token({ jti: undefined }), /does not verify/],
    ['without the back-channel event', () => token({ events: { 'http://schemas.openid.net/event/other': {} } }), /no back-channel logout event/],
    ['with an events claim that is not an object', () => token({ events: ['http://schemas.openid.net/event/backchannel-logout'] }), /malformed|no back-channel/],
    ['carrying a nonce (an ID token)', () => token({ nonce: 'n-1' }), /nonce/],
    ['naming neither sub nor sid', () => token({ sub: undefined, sid: undefined }), /neither sub nor sid/],
    ['issued to another client (azp)', () => token({ azp: 'someone-else' }), /another client/],
    ['of another type', () => token({}, { typ: 'at+jwt' }), /unexpected token type/],
    ['with an oversized subject', () => token({ sub: 'x'.repeat(300) }), /malformed/],
  ])('a token %s is refused', async (_what, make, message) => {
    await expect(verify(await make())).rejects.toThrow(message);
  });

  test('an unsigned token is refused', async () => {
    const claims = Buffer.from(JSON.stringify({ iss: ISSUER, aud: CLIENT, iat: now(), jti: 'j', sub: 'mona', events: EVENT })).toString('base64url');
    await expect(verify(`eyJhbGciOiJub25lIn0.${claims}.`)).rejects.toThrow(/does not verify/);
  });
});
