// A minimal Guacamole protocol client for talking straight to guacd: the wire format and the
// connection handshake (select → args → size/audio/video/image/timezone → connect → ready).
// Used by the dev supervisor's tests and by the benchmarks to measure guacd without a browser.
import net from 'node:net';

import { encodeInstruction, GuacParser, type GuacInstruction } from '../sessions/tunnel/protocol.ts';

export { encodeInstruction, GuacParser };
export type { GuacInstruction };

export interface GuacHandshakeOptions {
  host: string;
  port: number;
  protocol: string;
  /** Connection parameters by name; names guacd does not offer for the protocol are an error. */
  params: Record<string, string>;
  width: number;
  height: number;
  dpi: number;
  timeoutMs: number;
  /** IANA zone sent in the `timezone` instruction; default UTC. */
  timezone?: string;
}

export interface GuacHandshakeResult {
  /** The connection id from `ready` (`$…`). */
  readyId: string;
  /** Paused: attach your own 'data' handler (text, UTF-8), keep parsing with `parser`, then resume(). */
  socket: net.Socket;
  /** The parser, holding any partial instruction that followed `ready`. */
  parser: GuacParser;
  /** Complete instructions that arrived after `ready` in the same read. */
  pending: GuacInstruction[];
  /** The parameter names guacd offered (without the leading protocol version). */
  argNames: string[];
  /** From starting the TCP connect to receiving `ready`. */
  elapsedMs: number;
}

/** guacd refused the connection with an `error` instruction, or the handshake failed. */
export class GuacHandshakeError extends Error {
  readonly status: string | undefined;
  constructor(message: string, status?: string) {
    super(message);
    this.name = 'GuacHandshakeError';
    this.status = status;
  }
}

export function guacHandshake(opts: GuacHandshakeOptions): Promise<GuacHandshakeResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: opts.host, port: opts.port });
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    const parser = new GuacParser();
    let argNames: string[] = [];
    let settled = false;

    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new GuacHandshakeError(`guacd ${opts.protocol} handshake: no ready within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );

    const sendConnect = (args: string[]): void => {
      // guacd ≥ 1.1 offers its protocol version first; we echo it to speak that version.
      const version = args[0]?.startsWith('VERSION_') ? args[0] : undefined;
      argNames = version ? args.slice(1) : args;
      const unknown = Object.keys(opts.params).filter((name) => !argNames.includes(name));
      if (unknown.length > 0) {
        fail(new GuacHandshakeError(`guacd ${opts.protocol} does not accept parameter(s): ${unknown.join(', ')}`));
        return;
      }
      const values = argNames.map((name) => opts.params[name] ?? '');
      socket.write(
        encodeInstruction('size', String(opts.width), String(opts.height), String(opts.dpi)) +
          encodeInstruction('audio') +
          encodeInstruction('video') +
          encodeInstruction('image', 'image/png', 'image/jpeg') +
          encodeInstruction('timezone', opts.timezone ?? 'UTC') +
          encodeInstruction('connect', ...(version ? [version] : []), ...values),
      );
    };

    const onData = (chunk: string): void => {
      let instructions: GuacInstruction[];
      try {
        instructions = parser.push(chunk);
      } catch (error) {
        fail(error as Error);
        return;
      }
      for (const [index, [opcode, ...args]] of instructions.entries()) {
        if (opcode === 'args') {
          sendConnect(args);
        } else if (opcode === 'error') {
          fail(new GuacHandshakeError(`guacd ${opts.protocol}: ${args[0] ?? 'error'}`, args[1]));
          return;
        } else if (opcode === 'ready') {
          settled = true;
          clearTimeout(timer);
          socket.pause();
          socket.off('data', onData);
          socket.off('error', fail);
          socket.off('close', onClose);
          resolve({
            readyId: args[0] ?? '',
            socket,
            parser,
            pending: instructions.slice(index + 1),
            argNames,
            elapsedMs: performance.now() - started,
          });
          return;
        }
      }
    };
    const onClose = (): void => fail(new GuacHandshakeError(`guacd ${opts.protocol}: connection closed during handshake`));

    socket.on('connect', () => socket.write(encodeInstruction('select', opts.protocol)));
    socket.on('data', onData);
    socket.on('error', fail);
    socket.on('close', onClose);
  });
}
