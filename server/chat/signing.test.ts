// Unit tests of the callback checks that are ours: Slack's signature (against the example in
// Slack's "Verifying requests from Slack"), canonical JSON and the Mattermost context HMAC,
// and the chat file's validation.
import { describe, expect, test } from '@jest/globals';
import { canonicalJson, contextMac, constantTimeEqual, slackSignature, verifySlackRequest } from './signing.ts';
import { parseChatConfig } from './config.ts';
import { ConfigError } from '../config.ts';

describe('Slack request signatures', () => {
  // The worked example of Slack's documentation.
  const secret = '8f742231b10e8888abcd99yyyzzz85a5';
  const timestamp = '1531420618';
  const body =
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
  const expected = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

  test('matches the documented example', () => {
    expect(slackSignature(secret, timestamp, body)).toBe(expected);
    expect(verifySlackRequest(secret, { timestamp, signature: expected }, Buffer.from(body), Number(timestamp) + 299)).toBe('ok');
  });

  test('refuses stale and future timestamps, missing headers and wrong signatures', () => {
    const at = Number(timestamp);
    expect(verifySlackRequest(secret, { timestamp, signature: expected }, Buffer.from(body), at + 301)).toBe('stale_timestamp');
    expect(verifySlackRequest(secret, { timestamp, signature: expected }, Buffer.from(body), at - 301)).toBe('stale_timestamp');
    expect(verifySlackRequest(secret, { timestamp: undefined, signature: expected }, Buffer.from(body), at)).toBe('missing_signature');
    expect(verifySlackRequest(secret, { timestamp: '1e9', signature: expected }, Buffer.from(body), at)).toBe('missing_signature');
    expect(verifySlackRequest(secret, { timestamp, signature: expected.slice(0, -1) }, Buffer.from(body), at)).toBe('bad_signature');
    expect(verifySlackRequest(secret, { timestamp, signature: expected }, Buffer.from(`${body}&x=1`), at)).toBe('bad_signature');
  });

  test('constant-time comparison treats different lengths as unequal', () => {
    expect(constantTimeEqual('abc', 'abc')).toBe(true);
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'a')).toBe(false);
  });
});

describe('canonical JSON and the context HMAC', () => {
  test('key order does not change the bytes or the HMAC; values do', () => {
    const a = { requestId: 'r', action: 'approve', nonce: 'n', exp: 1, nested: { b: 1, a: [2, { d: 1, c: 2 }] } };
    const b = { nested: { a: [2, { c: 2, d: 1 }], b: 1 }, exp: 1, nonce: 'n', action: 'approve', requestId: 'r' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"action":"approve","exp":1,"nested":{"a":[2,{"c":2,"d":1}],"b":1},"nonce":"n","requestId":"r"}');
    expect(contextMac('k', a)).toBe(contextMac('k', b));
    expect(contextMac('k', a)).not.toBe(contextMac('k', { ...a, action: 'deny' }));
    expect(contextMac('k', a)).not.toBe(contextMac('other', a));
  });
});

describe('chat file validation', () => {
  const slack = { botToken: 'xoxb-0123456789', signingSecret: '0123456789abcdef0', allowedTeams: ['T1'], allowedApps: ['A1'] };

  test('names the key at fault', () => {
    expect(() => parseChatConfig({ slack: { ...slack, allowedTeams: [] } }, { production: false })).toThrow(/AIRLOCK_CHAT_FILE: slack.allowedTeams/);
    expect(() => parseChatConfig({ sites: { 'site-a': { mattermost: { channelId: 'x' } } } }, { production: false })).toThrow(/no mattermost section/);
    expect(() => parseChatConfig({ teams: {}, sites: { 'site-a': { teams: { directMessages: true } } } }, { production: false })).toThrow(/need teams.bot/);
  });

  test('platform URLs must be https; loopback http only with the opt-in, never in production', () => {
    const local = { ...slack, apiUrl: 'http://127.0.0.1:9/api' };
    expect(() => parseChatConfig({ slack: local }, { production: false })).toThrow(ConfigError);
    expect(parseChatConfig({ slack: local, allowInsecureLoopbackUrls: true }, { production: false }).slack?.apiUrl).toBe('http://127.0.0.1:9/api');
    expect(() => parseChatConfig({ slack: local, allowInsecureLoopbackUrls: true }, { production: true })).toThrow(/refused with NODE_ENV=production/);
    expect(() => parseChatConfig({ slack: { ...slack, apiUrl: 'http://evil.example/api' }, allowInsecureLoopbackUrls: true }, { production: false })).toThrow(ConfigError);
  });

  test('Socket Mode needs an app-level token (xapp-…) and then no signing secret', () => {
    const { signingSecret: _unused, ...noSecret } = slack;
    expect(() => parseChatConfig({ slack: noSecret }, { production: false })).toThrow(/slack.signingSecret/);
    expect(() => parseChatConfig({ slack: { ...noSecret, socketMode: true } }, { production: false })).toThrow(/slack.appToken: socketMode needs appToken/);
    expect(() => parseChatConfig({ slack: { ...noSecret, socketMode: true, appToken: 'xoxb-not-an-app-token' } }, { production: false })).toThrow(/xapp-/);
    const socket = parseChatConfig({ slack: { ...noSecret, socketMode: true, appToken: 'xapp-1-A1-0123456789' } }, { production: false }).slack;
    expect(socket).toMatchObject({ appToken: 'xapp-1-A1-0123456789', signingSecret: undefined });
    expect(parseChatConfig({ slack }, { production: false }).slack?.appToken).toBeUndefined();
  });

  test('email matching is off unless turned on', () => {
    expect(parseChatConfig({}, { production: false }).linking.matchByEmail).toBe(false);
  });
});
