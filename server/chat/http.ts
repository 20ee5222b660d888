// Outbound calls to the chat platforms: JSON over fetch with a deadline, answers validated with
// zod, and every failure turned into a ChatApiError naming the platform and the call.
import type { z } from 'zod';
import type { Platform } from './model.ts';

/** Off the click's ack path, but a hung platform must not pile up pending fan-outs. */
const CHAT_API_TIMEOUT_MS = 5_000;

export class ChatApiError extends Error {
  readonly platform: Platform;
  /** HTTP status, or the platform's own error code (Slack's `ok: false, error`). */
  readonly code: string;
  constructor(platform: Platform, call: string, code: string, options?: { cause?: unknown }) {
    super(`${platform} ${call} failed: ${code}`, options);
    this.name = 'ChatApiError';
    this.platform = platform;
    this.code = code;
  }
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  /** Sent as JSON, unless it is already a URLSearchParams (form-encoded). */
  body?: unknown;
}

export async function callJson<T>(platform: Platform, call: string, url: string, schema: z.ZodType<T>, opts: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  let body: string | undefined;
  if (opts.body instanceof URLSearchParams) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = opts.body.toString();
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json; charset=utf-8';
    body = JSON.stringify(opts.body);
  }
  let res: Response;
  try {
    res = await fetch(url, { method: opts.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, signal: AbortSignal.timeout(CHAT_API_TIMEOUT_MS) });
  } catch (err) {
    // The cause names the network failure (timeout, refused, reset); the message stays stable.
    throw new ChatApiError(platform, call, 'unreachable', { cause: err });
  }
  const text = await res.text();
  if (!res.ok) throw new ChatApiError(platform, call, `http_${res.status}`);
  let json: unknown;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw new ChatApiError(platform, call, 'malformed_response', { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ChatApiError(platform, call, 'unexpected_response', { cause: parsed.error });
  return parsed.data;
}
