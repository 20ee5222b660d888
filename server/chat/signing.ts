// The cryptographic checks on inbound callbacks that are ours to implement: Slack's request
// signature and the HMAC Airlock puts in Mattermost button contexts (over canonical JSON).
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack's documented replay window, applied both ways: a timestamp from the future is as suspect. */
export const SLACK_MAX_SKEW_SECONDS = 300;

/** Equal-time comparison of two strings; unequal lengths are unequal without leaking where. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  // Compare against itself when lengths differ so the work does not depend on the secret's length.
  return timingSafeEqual(x, x.length === y.length ? y : x) && x.length === y.length;
}

export type SlackSignatureCheck = 'ok' | 'missing_signature' | 'stale_timestamp' | 'bad_signature';

/** `v0=` HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`), per Slack's "Verifying requests". */
export function slackSignature(secret: string, timestamp: string, rawBody: Buffer | string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

export function verifySlackRequest(
  secret: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  rawBody: Buffer,
  nowSeconds: number,
): SlackSignatureCheck {
  const { timestamp, signature } = headers;
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return 'missing_signature';
  if (Math.abs(nowSeconds - Number(timestamp)) > SLACK_MAX_SKEW_SECONDS) return 'stale_timestamp';
  return constantTimeEqual(slackSignature(secret, timestamp, rawBody), signature) ? 'ok' : 'bad_signature';
}

/**
 * JSON with object keys sorted at every level and no whitespace: the same bytes whatever order
 * the keys arrive in (Mattermost re-serialises contexts through a Go map, which sorts them).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function contextMac(secret: string, fields: Record<string, unknown>): string {
  return createHmac('sha256', secret).update(canonicalJson(fields)).digest('base64url');
}
