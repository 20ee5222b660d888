// Readiness probes for the dev supervisor: each one opens a TCP connection and checks that the
// daemon speaks its protocol (a PONG, a banner, a Guacamole `args`), plus free-port helpers.
import net from 'node:net';

/** A single probe attempt gives up after this long; the caller retries until its own deadline. */
const PROBE_ATTEMPT_TIMEOUT_MS = 1_000;

export type Probe = () => Promise<void>;

interface ExchangeOptions {
  host: string;
  port: number;
  /** Written once connected. */
  send?: string;
  /** Called with everything received so far; the probe succeeds when it returns true. */
  done?: (received: Buffer) => boolean;
}

/** Connects, optionally sends a request and waits until the reply satisfies `done` (or just the connect). */
function exchange({ host, port, send, done }: ExchangeOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let received = Buffer.alloc(0);
    const finish = (error?: Error): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    socket.setTimeout(PROBE_ATTEMPT_TIMEOUT_MS, () => finish(new Error(`no answer within ${PROBE_ATTEMPT_TIMEOUT_MS} ms`)));
    socket.on('error', (error) => finish(error));
    socket.on('connect', () => {
      if (!done) return finish();
      if (send !== undefined) socket.write(send);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (done?.(received)) finish();
    });
    socket.on('end', () => finish(new Error(`connection closed after ${JSON.stringify(received.toString('latin1'))}`)));
  });
}

export const probes = {
  /** Raw RESP PING; a Redis that is loading its AOF answers -LOADING instead, which is not ready. */
  redisPing: (port: number): Probe => () =>
    exchange({ host: '127.0.0.1', port, send: '*1\r\n$4\r\nPING\r\n', done: (r) => r.toString('latin1').startsWith('+PONG') }),
  sshBanner: (port: number): Probe => () =>
    exchange({ host: '127.0.0.1', port, done: (r) => r.toString('latin1').startsWith('SSH-2.0') }),
  rfbBanner: (port: number): Probe => () =>
    exchange({ host: '127.0.0.1', port, done: (r) => r.toString('latin1').startsWith('RFB 003.') }),
  guacdArgs: (port: number): Probe => () =>
    exchange({ host: '127.0.0.1', port, send: '6.select,3.ssh;', done: (r) => r.toString('utf8').includes('4.args,') }),
  tcpAccept: (port: number, host = '127.0.0.1'): Probe => () => exchange({ host, port }),
  /**
   * A Redis (or Sentinel) command whose reply satisfies `ok`: the reply's text (a bulk string,
   * or an array of them joined by newlines) once it has fully arrived.
   */
  redisReply: (port: number, command: readonly string[], ok: (reply: string) => boolean): Probe => () =>
    new Promise<void>((resolve, reject) => {
      let failed: Error | undefined;
      exchange({
        host: '127.0.0.1',
        port,
        send: encodeResp(command),
        done: (r) => {
          const reply = parseFlatResp(r.toString('utf8'));
          if (reply === undefined) return false;
          if (!ok(reply)) failed = new Error(`unexpected reply: ${reply.slice(0, 200)}`);
          return true;
        },
      }).then(
        () => (failed === undefined ? resolve() : reject(failed)),
        reject,
      );
    }),
  /** telnetd starts option negotiation (IAC = 0xFF) as soon as inetd hands it the connection. */
  telnetIac: (port: number): Probe => () => exchange({ host: '127.0.0.1', port, done: (r) => r.includes(0xff) }),
};

/** A command in RESP (an array of bulk strings). */
function encodeResp(command: readonly string[]): string {
  return `*${command.length}\r\n${command.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * A complete RESP reply as text, or undefined while more is to come: a simple string, an error
 * ("-ERR …"), a bulk string, or an array of bulk strings/integers joined by newlines (what INFO,
 * ROLE and SENTINEL MASTER answer). Nested arrays are flattened; enough for probes.
 */
function parseFlatResp(text: string): string | undefined {
  const out: string[] = [];
  let pos = 0;
  let pending = 1;
  while (pending > 0) {
    const eol = text.indexOf('\r\n', pos);
    if (eol < 0) return undefined;
    const line = text.slice(pos, eol);
    pos = eol + 2;
    pending--;
    const type = line[0];
    if (type === '*') pending += Math.max(0, Number(line.slice(1)));
    else if (type === '$') {
      const length = Number(line.slice(1));
      if (length < 0) continue;
      // Byte length: the probes' replies are ASCII.
      if (text.length < pos + length + 2) return undefined;
      out.push(text.slice(pos, pos + length));
      pos += length + 2;
    } else out.push(line.slice(1));
  }
  return out.join('\n');
}

/** A free loopback port: bind port 0 and close. Someone may take it before we do (accepted race). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether we could listen on host:port right now. */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
