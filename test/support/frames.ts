// Raw WebSocket frames (RFC 6455 §5.2), for tests that send what no well-behaved client would.
import { randomBytes } from 'node:crypto';
import type WebSocket from 'ws';
import type net from 'node:net';

export interface FrameSpec {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  rsv1?: boolean;
  /** Clients must mask; `false` sends an unmasked client frame. */
  masked?: boolean;
}

export function frame(spec: FrameSpec): Buffer {
  const { opcode, payload } = spec;
  const masked = spec.masked ?? true;
  const b0 = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 === true ? 0x40 : 0) | (opcode & 0x0f);
  let header: Buffer;
  if (payload.length < 126) header = Buffer.from([b0, (masked ? 0x80 : 0) | payload.length]);
  else if (payload.length < 65_536) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = (masked ? 0x80 : 0) | 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = (masked ? 0x80 : 0) | 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] ?? 0) ^ (key[i % 4] ?? 0);
  return Buffer.concat([header, key, body]);
}

/** Writes bytes straight onto a ws client's TCP socket, past its own framing. */
export function writeRaw(ws: WebSocket, bytes: Buffer): void {
  (ws as unknown as { _socket: net.Socket })._socket.write(bytes);
}

export const OPCODE = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9 } as const;
