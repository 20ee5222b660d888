// The pure parts of the audit log: event encoding, chain verification over plain entries, and
// the export line format that must give back the exact bytes the hash covers.
import { describe, expect, test } from '@jest/globals';
import { GENESIS_HASH } from './lua.ts';
import type { AuditEventInput } from './schema.ts';
import {
  chainHash,
  encodeAuditEvent,
  exportLine,
  InvalidAuditEventError,
  MAX_EVENT_BYTES,
  parseExportLine,
  verifyChain,
  type ChainEntry,
} from './store.ts';

const input = (details: Record<string, unknown> = {}): AuditEventInput => ({
  actor: { id: 'dev:ann', name: 'Ann Auditor' },
  action: 'request.approved',
  target: { type: 'request', id: 'r1' },
  outcome: 'ok',
  reason: null,
  details,
  site: 'plant-a',
});

/** A valid chain of n links built the way audit_append builds it. */
function chain(n: number): ChainEntry[] {
  const entries: ChainEntry[] = [];
  let prev = GENESIS_HASH;
  for (let seq = 1; seq <= n; seq++) {
    const event = encodeAuditEvent(input({ seq }), new Date(Date.UTC(2026, 0, 1, 0, 0, seq)));
    const hash = chainHash(prev, String(seq), event);
    entries.push({ id: `1767225600000-${seq}`, seq: String(seq), prev, hash, event });
    prev = hash;
  }
  return entries;
}

describe('encodeAuditEvent', () => {
  test('fixed field order, `at` defaulting to now', () => {
    const json = encodeAuditEvent(input(), new Date('2026-03-01T10:00:00.000Z'));
    expect(json).toBe(
      '{"at":"2026-03-01T10:00:00.000Z","actor":{"id":"dev:ann","name":"Ann Auditor"},"action":"request.approved",' +
        '"target":{"type":"request","id":"r1"},"outcome":"ok","reason":null,"details":{},"site":"plant-a"}',
    );
  });

  test('refuses a malformed event, a back- or forward-dated one, and one over the size cap', () => {
    expect(() => encodeAuditEvent({ ...input(), action: 'Approved!' })).toThrow(InvalidAuditEventError);
    expect(() => encodeAuditEvent({ ...input(), at: 'yesterday' })).toThrow(/at/);
    expect(() => encodeAuditEvent({ ...input(), at: '2020-01-01T00:00:00.000Z' })).toThrow(/not the time of recording/);
    expect(() => encodeAuditEvent(input({ blob: 'x'.repeat(MAX_EVENT_BYTES) }))).toThrow(InvalidAuditEventError);
  });
});

describe('verifyChain', () => {
  test('an intact chain, and the log end it claims', async () => {
    const entries = chain(5);
    expect(await verifyChain(entries)).toEqual({ ok: true, checked: 5, firstBroken: null });
    expect(await verifyChain(entries, { head: entries[4]?.hash ?? null, seq: '5' })).toEqual({ ok: true, checked: 5, firstBroken: null });
    expect(await verifyChain([], { head: null, seq: null })).toEqual({ ok: true, checked: 0, firstBroken: null });
  });

  test.each([
    ['edited event', (e: ChainEntry[]) => e.splice(2, 1, { ...e[2]!, event: e[2]!.event!.replace('seq', 'seX') }), 2, 'hash_mismatch'],
    ['removed entry', (e: ChainEntry[]) => e.splice(2, 1), 2, 'seq_gap'],
    ['reordered entries', (e: ChainEntry[]) => e.splice(1, 2, e[2]!, e[1]!), 1, 'seq_gap'],
    ['non-JSON event', (e: ChainEntry[]) => e.splice(3, 1, { ...e[3]!, event: 'not json' }), 3, 'malformed'],
    ['missing hash', (e: ChainEntry[]) => e.splice(0, 1, { ...e[0]!, hash: undefined }), 0, 'malformed'],
  ] as const)('%s', async (_name, tamper, index, reason) => {
    const entries = chain(5);
    tamper(entries);
    const result = await verifyChain(entries);
    expect(result).toEqual({ ok: false, checked: index, firstBroken: { index, id: entries[index]?.id, reason } });
  });

  test('an edited and re-hashed entry breaks the link to the next one', async () => {
    const entries = chain(5);
    const e = entries[2]!;
    const event = e.event!.replace('Ann Auditor', 'Someone Else');
    entries[2] = { ...e, event, hash: chainHash(e.prev!, e.seq!, event) };
    expect((await verifyChain(entries)).firstBroken).toEqual({ index: 3, id: entries[3]?.id, reason: 'prev_mismatch' });
  });

  test('a removed tail shows against the head and the seq counter', async () => {
    const entries = chain(5);
    const head = entries[4]?.hash ?? null;
    expect((await verifyChain(entries.slice(0, 4), { head, seq: '5' })).firstBroken).toEqual({ index: 4, id: null, reason: 'head_mismatch' });
    expect((await verifyChain(entries, { head, seq: '7' })).firstBroken).toEqual({ index: 5, id: null, reason: 'seq_counter_mismatch' });
  });
});

describe('export lines', () => {
  test('are JSON with the event as an object, and give back the exact event bytes', async () => {
    const entries = chain(3);
    const odd = entries[1]!;
    // Bytes JSON.stringify would not produce: an escaped slash, a \u escape, odd spacing.
    const event = '{"at":"2026-01-01T00:00:02.000Z", "details":{"path":"a\\/b","name":"\\u00e9t\\u00e9 工厂"}}';
    entries[1] = { ...odd, event, hash: chainHash(odd.prev!, odd.seq!, event) };
    entries[2] = { ...entries[2]!, prev: entries[1].hash };
    entries[2] = { ...entries[2], hash: chainHash(entries[2].prev!, entries[2].seq!, entries[2].event!) };

    const lines = entries.map(exportLine);
    expect(JSON.parse(lines[1]!)).toEqual({ id: odd.id, seq: 2, prev: odd.prev, hash: entries[1].hash, event: JSON.parse(event) });
    expect(lines.map(parseExportLine)).toEqual(entries);
    expect(await verifyChain(lines.map(parseExportLine))).toEqual({ ok: true, checked: 3, firstBroken: null });
  });

  test('a damaged entry still exports as a JSON line and verifies as malformed', async () => {
    const entries = chain(2);
    entries[1] = { ...entries[1]!, event: '{"cut off' };
    const line = exportLine(entries[1]);
    expect(() => JSON.parse(line)).not.toThrow();
    expect((await verifyChain(entries.map(exportLine).map(parseExportLine))).firstBroken).toEqual({ index: 1, id: entries[1].id, reason: 'malformed' });
  });

  test('a line that is not JSON is malformed', async () => {
    const lines = chain(2).map(exportLine);
    lines[1] = lines[1]!.slice(0, -1);
    expect((await verifyChain(lines.map(parseExportLine))).firstBroken).toEqual({ index: 1, id: null, reason: 'malformed' });
  });
});
