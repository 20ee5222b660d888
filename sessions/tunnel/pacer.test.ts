// Pacing only for the guacds that need it: guacd < 1.5 hangs under bursts (LAB.md), 1.5+ does not.
import { describe, expect, test } from '@jest/globals';
import net from 'node:net';
import { Pacer } from './pacer.ts';
import { GuacdHealth } from './guacd-health.ts';
import { encodeInstruction } from './protocol.ts';

/** Whether a promise has settled by the next turn of the event loop. */
const settledSoon = (p: Promise<unknown>): Promise<boolean> => Promise.race([p.then(() => true), new Promise<boolean>((resolve) => setImmediate(() => resolve(false)))]);

describe('Pacer', () => {
  test('a paced guacd gets one set-up at a time; an unpaced one gets them all at once', async () => {
    const pacer = new Pacer(0, 1, (guacd) => guacd === 'old');
    const first = await pacer.slot('old');
    expect(await settledSoon(pacer.slot('old'))).toBe(false);
    first();
    await pacer.slot('new');
    expect(await settledSoon(pacer.slot('new'))).toBe(true);
  });
});

describe('GuacdHealth.needsPacing', () => {
  /** A listener answering `select` with `args` offering `version`, as guacd's handshake does. */
  async function handshakeAnswering(version: string): Promise<{ port: number; close: () => Promise<void> }> {
    const server = net.createServer((s) => s.once('data', () => s.end(encodeInstruction('args', version, 'hostname'))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    return { port: typeof address === 'object' && address !== null ? address.port : 0, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  test.each([
    ['VERSION_1_3_0', true],
    ['VERSION_1_1_0', true],
    ['VERSION_1_5_0', false],
    ['VERSION_2_0_0', false],
  ])('a guacd offering %s is paced: %s', async (version, paced) => {
    const fake = await handshakeAnswering(version);
    const health = new GuacdHealth({ g: { host: '127.0.0.1', port: fake.port } });
    try {
      expect(health.needsPacing('g')).toBe(true); // not asked yet: paced, to be safe
      await health.start();
      expect(health.needsPacing('g')).toBe(paced);
    } finally {
      health.stop();
      await fake.close();
    }
  });
});
