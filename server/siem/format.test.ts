// The syslog/CEF formatter on its own: header fields, escaping, severities, truncation, framing.
import { describe, expect, test } from '@jest/globals';
import {
  cefSeverity,
  escapeCefExtension,
  escapeCefHeader,
  escapeSdValue,
  formatSyslog,
  octetCountedFrame,
  syslogSeverity,
  truncateUtf8,
  type AuditStreamEntry,
} from './format.ts';
import { approvalEvent } from '../../test/support/audit.ts';

const HASH = 'ab'.repeat(32);
const HEADER = { facility: 10, hostname: 'portal-1.plant.example', appName: 'airlock', procId: 'portal-1-42-abcdef', version: '0.1.0' };

function entry(event: Record<string, unknown>, seq = '7', id = '1700000000123-0'): AuditStreamEntry {
  return { id, message: { seq, prev: '0'.repeat(64), hash: HASH, event: JSON.stringify(event) } };
}

/** Mona approving request r-1 at site-a, as the stream stores it (with its time). */
const approved = { at: '2024-05-06T07:08:09.123Z', ...approvalEvent({ actor: { id: 'dev:mona', name: 'Mona Manager' }, target: { type: 'request', id: 'r-1' }, site: 'site-a' }) };

describe('escaping', () => {
  test('RFC 5424 PARAM-VALUE escapes ", \\ and ]', () => {
    expect(escapeSdValue('a"b\\c]d[e')).toBe('a\\"b\\\\c\\]d[e');
  });
  test('CEF header escapes \\ and | and flattens line breaks', () => {
    expect(escapeCefHeader('a|b\\c=d\r\ne\nf')).toBe('a\\|b\\\\c=d e f');
  });
  test('CEF extension escapes \\ and = and writes line breaks as \\n, \\r', () => {
    expect(escapeCefExtension('a|b\\c=d\r\ne')).toBe('a|b\\\\c\\=d\\r\\ne');
  });
});

describe('severity', () => {
  test.each([
    ['request.approved', 'ok', 3, 6],
    ['request.approve', 'refused', 5, 5],
    ['session.terminated', 'ok', 6, 4],
    ['grant.revoked', 'ok', 6, 4],
    ['grant.revoke', 'refused', 5, 5],
  ] as const)('%s (%s) → CEF %i, syslog %i', (action, outcome, cef, syslog) => {
    expect(cefSeverity({ action, outcome })).toBe(cef);
    expect(syslogSeverity(cef)).toBe(syslog);
  });
});

describe('formatSyslog', () => {
  test('an approval: exact RFC 5424 header, structured data and CEF line', () => {
    expect(formatSyslog(entry(approved), HEADER)).toBe(
      `<86>1 2024-05-06T07:08:09.123Z portal-1.plant.example airlock portal-1-42-abcdef request.approved ` +
        `[airlock@32473 seq="7" hash="${HASH}" id="1700000000123-0"] ` +
        `CEF:0|Airlock|Airlock|0.1.0|request.approved|Request approved|3|` +
        `rt=1714979289123 suid=dev:mona suser=Mona Manager act=request.approved outcome=ok cs1Label=site cs1=site-a ` +
        `cs2Label=target cs2=request:r-1 cs3Label=seq cs3=7 cs4Label=hash cs4=${HASH} externalId=1700000000123-0`,
    );
  });

  test('a refusal with hostile actor name and reason: escaped in CEF, PRI notice, details as JSON', () => {
    const line = formatSyslog(
      entry({ ...approved, action: 'request.approve', outcome: 'refused', actor: { id: 'dev:x', name: 'Eve | = \\ \n"]' }, reason: 'a=b|c\\d\ne', details: { state: 'denied' } }),
      HEADER,
    );
    expect(line.startsWith('<85>1 ')).toBe(true);
    expect(line).toContain('|request.approve|Request approve refused|5|');
    expect(line).toContain('suser=Eve | \\= \\\\ \\n"] act=');
    expect(line).toContain('reason=a\\=b|c\\\\d\\ne cs1Label');
    expect(line).toMatch(/ externalId=1700000000123-0 cs5Label=details cs5={"state":"denied"}$/);
    expect(line).not.toMatch(/[\r\n]/);
  });

  test('system events without actor, target or site leave those keys out', () => {
    const line = formatSyslog(entry({ ...approved, action: 'system.started', actor: null, target: null, site: null }), HEADER);
    expect(line).not.toMatch(/suser=|suid=|cs1|cs2/);
    expect(line).toContain('act=system.started outcome=ok cs3Label=seq cs3=7');
  });

  test('a user target goes to duid; a long action is cut to the 32-character MSGID', () => {
    const action = 'admin.user_credentials_rotated_everywhere';
    const line = formatSyslog(entry({ ...approved, action, target: { type: 'user', id: 'dev:vera' } }), HEADER);
    expect(line.split(' ')[5]).toBe(action.slice(0, 32));
    expect(line).toContain(`|${action}|Admin user credentials rotated everywhere|3|`);
    expect(line).toContain('duid=dev:vera');
  });

  test('an unreadable entry is still sent, flagged with severity 8 and the stream id as time', () => {
    const line = formatSyslog({ id: '1700000000123-0', message: { seq: '9', hash: HASH, event: '{"broken' } }, HEADER);
    expect(line).toMatch(/^<83>1 2023-11-14T22:13:20\.123Z \S+ airlock \S+ audit\.unreadable \[airlock@32473 seq="9" /);
    expect(line).toContain('|audit.unreadable|Unreadable audit entry|8|act=audit.unreadable cs3Label=seq cs3=9');
  });

  test('header tokens hold printable ASCII only; an empty one becomes NILVALUE', () => {
    const line = formatSyslog(entry(approved), { ...HEADER, hostname: 'hé st', appName: ' ' });
    expect(line.split(' ').slice(2, 4)).toEqual(['hst', '-']);
  });
});

describe('truncateUtf8', () => {
  test('never splits a multi-byte character', () => {
    const text = 'ab€€'; // 2 + 3 + 3 bytes
    for (let max = 0; max <= 8; max++) {
      const cut = truncateUtf8(text, max);
      expect(cut.length).toBeLessThanOrEqual(max);
      expect(Buffer.from(cut.toString('utf8'), 'utf8').equals(cut)).toBe(true);
      expect(text.startsWith(cut.toString('utf8'))).toBe(true);
    }
    expect(truncateUtf8(text, 6).toString('utf8')).toBe('ab€');
  });

  test('never leaves half a CEF escape', () => {
    expect(truncateUtf8('x=a\\\\b', 4).toString()).toBe('x=a'); // cut inside "\\\\": drop the lone one
    expect(truncateUtf8('x=a\\\\b', 5).toString()).toBe('x=a\\\\');
  });

  test('short messages are untouched', () => {
    expect(truncateUtf8('short', 8192).toString()).toBe('short');
  });
});

test('octet-counted frame counts bytes, not characters', () => {
  expect(octetCountedFrame(Buffer.from('€x', 'utf8')).toString('utf8')).toBe('4 €x');
});
