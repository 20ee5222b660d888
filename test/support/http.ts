// A tiny cookie-keeping HTTP client for API tests, and a real OIDC sign-in through the dev IdP
// (every redirect followed by hand, as a browser would).
import http from 'node:http';
import { TEST_IDP_PASSWORD } from './portal.ts';

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  json<T = unknown>(): T;
}

export class Browserless {
  readonly base: string;
  private readonly cookies = new Map<string, string>();

  constructor(base: string) {
    this.base = base;
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  setCookie(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: string, pathOrUrl: string, opts: { body?: unknown; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
    const url = new URL(pathOrUrl, this.base);
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (this.cookies.size > 0) headers['cookie'] = this.cookieHeader();
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    } else if (opts.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    }
    if (method !== 'GET' && method !== 'HEAD') headers['origin'] ??= new URL(this.base).origin;
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (pair === undefined || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
  }

  get(path: string, headers?: Record<string, string>): Promise<HttpResponse> {
    return this.request('GET', path, headers === undefined ? {} : { headers });
  }

  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpResponse> {
    return this.request('POST', path, { body: body ?? {}, ...(headers === undefined ? {} : { headers }) });
  }

  /** Follows redirects by hand from a response, returning the first non-redirect response. */
  async follow(res: HttpResponse, limit = 10): Promise<HttpResponse> {
    let current = res;
    for (let i = 0; i < limit && current.status >= 300 && current.status < 400; i++) {
      const location = current.headers.get('location');
      if (location === null) break;
      current = await this.request('GET', location, { headers: { accept: 'text/html' } });
    }
    return current;
  }
}

/** Starts a sign-in and stops at the dev IdP's login form; returns the form's action URL. */
export async function startLogin(agent: Browserless, query = ''): Promise<string> {
  const form = await agent.follow(await agent.get(`/auth/login${query}`, { accept: 'text/html' }));
  const action = /action="([^"]+)"/.exec(form.text)?.[1];
  if (form.status !== 200 || action === undefined) throw new Error(`no login form (status ${form.status})`);
  return action;
}

/**
 * Submits the dev IdP form and follows the redirects up to (not including) the portal callback.
 * `extra` adds form fields (the dev IdP's `otp`, a one-time code).
 */
export async function submitLogin(agent: Browserless, action: string, username: string, password = TEST_IDP_PASSWORD, extra: Record<string, string> = {}): Promise<string> {
  let res = await agent.request('POST', action, { form: { username, password, ...extra } });
  for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
    const location = res.headers.get('location') ?? '';
    if (new URL(location, agent.base).pathname.startsWith('/auth/callback/')) return location;
    res = await agent.get(location, { accept: 'text/html' });
  }
  throw new Error(`sign-in did not reach the portal callback (status ${res.status}): ${res.text.slice(0, 200)}`);
}

/** A full sign-in as a demo account; returns the signed-in agent. */
export async function loginAs(base: string, username: string): Promise<Browserless> {
  const agent = new Browserless(base);
  const callback = await submitLogin(agent, await startLogin(agent), username);
  const done = await agent.get(callback, { accept: 'text/html' });
  if (done.status !== 303) throw new Error(`callback failed (${done.status}): ${done.text.slice(0, 300)}`);
  return agent;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: () => { error?: { code?: string; message?: string } };
}

/** One HTTP request from a chosen local address (fetch cannot pick one). */
export function requestFrom(base: string, opts: { path: string; method?: string; body?: string; headers?: Record<string, string>; from?: string }): Promise<RawResponse> {
  const url = new URL(opts.path, base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname, port: url.port, path: url.pathname + url.search, method: opts.method ?? 'GET', headers: { accept: 'application/json', ...opts.headers }, localAddress: opts.from ?? '127.0.0.1' },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as ReturnType<RawResponse['json']> });
        });
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Signs the users in at once; their agents in the order of the names. */
export async function loginAll<const N extends readonly string[]>(base: string, ...names: N): Promise<{ -readonly [K in keyof N]: Browserless }> {
  // Promise.all over a mapped tuple loses its length; the names fix it.
  return (await Promise.all(names.map((u) => loginAs(base, u)))) as { -readonly [K in keyof N]: Browserless };
}

/** Signs the users in at once; their agents by name (`agents.vera`). */
export async function loginByName<const N extends string>(base: string, ...names: N[]): Promise<Record<N, Browserless>> {
  const agents = await Promise.all(names.map((u) => loginAs(base, u)));
  return Object.fromEntries(names.map((n, i) => [n, agents[i]])) as Record<N, Browserless>;
}
