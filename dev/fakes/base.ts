// Plumbing shared by the local chat-platform fakes (demo and tests, never production): a JSON
// HTTP server on a free loopback port that records every call and lets callers wait for one.
import http from 'node:http';
import { EventEmitter } from 'node:events';

export interface RecordedCall {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON, or the form fields of a form-encoded body. */
  body: unknown;
}

export interface FakeAnswer {
  status?: number;
  json: unknown;
}

export type FakeHandler = (call: RecordedCall, params: string[]) => FakeAnswer | Promise<FakeAnswer>;

export class FakeServer {
  readonly calls: RecordedCall[] = [];
  #routes: Array<{ method: string; pattern: RegExp; handler: FakeHandler }> = [];
  readonly #emitter = new EventEmitter();
  readonly #server: http.Server;
  #url = '';

  constructor() {
    this.#emitter.setMaxListeners(0);
    this.#server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => void this.dispatch(req, Buffer.concat(chunks).toString('utf8'), res));
    });
  }

  get url(): string {
    return this.#url;
  }

  /** The HTTP server, for fakes that also accept WebSocket upgrades on it. */
  get httpServer(): http.Server {
    return this.#server;
  }

  /** Records something that is not an HTTP call (a WebSocket frame), so `until` can wait for it. */
  note(call: RecordedCall): void {
    this.calls.push(call);
    this.#emitter.emit('call', call);
  }

  route(method: string, pattern: RegExp, handler: FakeHandler): void {
    this.#routes.push({ method, pattern, handler });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const address = this.#server.address();
    this.#url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  }

  private async dispatch(req: http.IncomingMessage, text: string, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let body: unknown = undefined;
    if (String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) body = Object.fromEntries(new URLSearchParams(text));
    else if (text !== '') body = JSON.parse(text);
    const call: RecordedCall = { method: req.method ?? 'GET', path, headers: req.headers, body };
    let answer: FakeAnswer = { status: 404, json: { error: 'no such endpoint' } };
    for (const r of this.#routes) {
      const m = r.method === call.method ? r.pattern.exec(path) : null;
      if (m !== null) {
        answer = await r.handler(call, m.slice(1).map(decodeURIComponent));
        break;
      }
    }
    this.calls.push(call);
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' }).end(JSON.stringify(answer.json));
    this.#emitter.emit('call', call);
  }

  /** Resolves with the first recorded call (past or future) that matches; rejects after the deadline. */
  until(match: (call: RecordedCall) => boolean, what: string, timeoutMs = 5_000): Promise<RecordedCall> {
    const seen = this.calls.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#emitter.off('call', listener);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const listener = (call: RecordedCall) => {
        if (!match(call)) return;
        clearTimeout(timer);
        this.#emitter.off('call', listener);
        resolve(call);
      };
      this.#emitter.on('call', listener);
    });
  }

  async close(): Promise<void> {
    this.#emitter.removeAllListeners();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

export const bearer = (call: RecordedCall): string | undefined => /^Bearer (.+)$/.exec(String(call.headers['authorization'] ?? ''))?.[1];
