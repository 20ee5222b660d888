// Plant time formatting and wall-clock conversion: the one format of web and chat, the zone's
// abbreviation, and the instants of times typed in a plant's zone (clock changes included).
import { describe, expect, test } from '@jest/globals';
import { formatInstant, formatSpan, instantOfWallClock, isTimeZone, zoneAbbreviation } from './plant-time.ts';

describe('plant time', () => {
  test('zones are checked against Intl, UTC included', () => {
    expect(isTimeZone('Europe/Paris')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Europe/Lyon')).toBe(false);
    expect(isTimeZone('CET ')).toBe(false);
  });

  test('abbreviations: European and American names, else the offset', () => {
    const winter = new Date('2026-11-26T08:30:00Z');
    const summer = new Date('2026-07-01T08:30:00Z');
    expect([zoneAbbreviation(winter, 'Europe/Paris'), zoneAbbreviation(summer, 'Europe/Paris')]).toEqual(['CET', 'CEST']);
    expect([zoneAbbreviation(winter, 'Europe/Lisbon'), zoneAbbreviation(summer, 'Europe/Lisbon')]).toEqual(['WET', 'WEST']);
    expect([zoneAbbreviation(winter, 'America/New_York'), zoneAbbreviation(summer, 'America/New_York')]).toEqual(['EST', 'EDT']);
    expect(zoneAbbreviation(winter, 'UTC')).toBe('UTC');
    expect(zoneAbbreviation(winter, 'Asia/Tokyo')).toBe('GMT+9');
  });

  test('one format: a Lyon window in Lyon time, never 3:30 AM without a zone', () => {
    expect(formatInstant('2026-11-26T08:30:00Z', 'Europe/Paris')).toBe('26 Nov 2026, 09:30 CET');
    expect(formatSpan('2026-11-26T08:30:00Z', '2026-11-26T10:00:00Z', 'Europe/Paris')).toBe('26 Nov 2026, 09:30–11:00 CET');
    expect(formatSpan('2026-11-26T08:30:00Z', '2026-11-26T10:00:00Z', 'America/New_York')).toBe('26 Nov 2026, 03:30–05:00 EST');
    expect(formatSpan('2026-11-26T22:30:00Z', '2026-11-27T01:00:00Z', 'Europe/Paris')).toBe('26 Nov 2026, 23:30 CET – 27 Nov 2026, 02:00 CET');
    // The clocks change inside the window: each end says which time it is.
    expect(formatSpan('2026-10-25T00:30:00Z', '2026-10-25T01:30:00Z', 'Europe/Paris')).toBe('25 Oct 2026, 02:30 CEST – 02:30 CET');
  });

  test('a time typed in a plant\u2019s zone is that instant, across clock changes', () => {
    expect(instantOfWallClock({ year: 2026, month: 11, day: 26, hour: 9, minute: 30 }, 'Europe/Paris').toISOString()).toBe('2026-11-26T08:30:00.000Z');
    expect(instantOfWallClock({ year: 2026, month: 7, day: 1, hour: 9, minute: 30 }, 'Europe/Paris').toISOString()).toBe('2026-07-01T07:30:00.000Z');
    // 02:30 does not exist on 29 March 2026 in Paris: an hour later.
    expect(instantOfWallClock({ year: 2026, month: 3, day: 29, hour: 2, minute: 30 }, 'Europe/Paris').toISOString()).toBe('2026-03-29T01:30:00.000Z');
    // 02:30 happens twice on 25 October 2026: the first.
    expect(instantOfWallClock({ year: 2026, month: 10, day: 25, hour: 2, minute: 30 }, 'Europe/Paris').toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(instantOfWallClock({ year: 2026, month: 11, day: 26, hour: 9, minute: 30 }, 'UTC').toISOString()).toBe('2026-11-26T09:30:00.000Z');
  });
});
