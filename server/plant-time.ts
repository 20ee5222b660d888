// Plant time: every time Airlock shows is given in the plant's own IANA time zone, with its
// abbreviation, in one format across the web UI and chat ("26 Nov 2026, 09:00 CET"). Pure Intl,
// no Node APIs: the browser bundle imports this module as is.

/** A site that names no zone: UTC, which at least reads the same for everyone. */
export const DEFAULT_TIME_ZONE = 'UTC';

/** One locale for every date Airlock writes: day month year and a 24-hour clock, unambiguous across countries. */
const LOCALE = 'en-GB';

let known: ReadonlySet<string> | undefined;

/** Whether `zone` is an IANA time zone this runtime knows (Intl's list, plus UTC, which the list leaves out). */
export function isTimeZone(zone: string): boolean {
  known ??= new Set([...Intl.supportedValuesOf('timeZone'), 'UTC', 'Etc/UTC']);
  return known.has(zone);
}

/** Every zone a site may name, sorted, UTC first. */
export function timeZones(): string[] {
  return ['UTC', ...Intl.supportedValuesOf('timeZone').filter((z) => z !== 'UTC')];
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(key: string, make: () => Intl.DateTimeFormat): Intl.DateTimeFormat {
  let f = formatters.get(key);
  if (f === undefined) {
    f = make();
    formatters.set(key, f);
  }
  return f;
}

/** The part of `parts` of this type (formatToParts). */
const part = (parts: Intl.DateTimeFormatPart[], type: Intl.DateTimeFormatPartTypes): string => parts.find((p) => p.type === type)?.value ?? '';

/**
 * The zone's abbreviation at `at`: "CET", "CEST", "WET", "EST", "UTC". en-GB names European
 * zones and en-US American ones; where neither has a name, the offset ("GMT+9").
 */
export function zoneAbbreviation(at: Date, zone: string): string {
  const name = (locale: string) =>
    part(formatter(`abbr|${locale}|${zone}`, () => new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' })).formatToParts(at), 'timeZoneName');
  const gb = name('en-GB');
  if (!/^GMT[+-]/.test(gb)) return gb;
  const us = name('en-US');
  return /^GMT[+-]/.test(us) ? gb : us;
}

interface WallClock {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** What a clock in `zone` reads at `at`. */
export function wallClock(at: Date, zone: string): WallClock {
  const parts = formatter(`wall|${zone}`, () =>
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }),
  ).formatToParts(at);
  const n = (t: Intl.DateTimeFormatPartTypes) => Number(part(parts, t));
  return { year: n('year'), month: n('month'), day: n('day'), hour: n('hour'), minute: n('minute'), second: n('second') };
}

const HALF_DAY_MS = 12 * 3_600_000;

/** The zone's offset from UTC at `at`, in milliseconds (CET: +3 600 000). */
export function zoneOffsetMs(at: Date, zone: string): number {
  const w = wallClock(at, zone);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - (at.getTime() - at.getMilliseconds());
}

/**
 * The instant a clock in `zone` reads `y-m-d h:m`. In a spring-forward gap (a time that does not
 * exist there) it is the instant an hour later; in the repeated autumn hour, the first of the two.
 */
export function instantOfWallClock(w: Omit<WallClock, 'second'> & { second?: number }, zone: string): Date {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second ?? 0);
  // The offsets either side of any clock change near that time: one of them is the one in force.
  const before = asUtc - zoneOffsetMs(new Date(asUtc - HALF_DAY_MS), zone);
  const after = asUtc - zoneOffsetMs(new Date(asUtc + HALF_DAY_MS), zone);
  const reads = (t: number) => t + zoneOffsetMs(new Date(t), zone) === asUtc;
  const fits = [before, after].filter(reads);
  // No fit: the time falls in the gap; the earlier offset gives the instant an hour later.
  return new Date(fits.length === 0 ? before : Math.min(...fits));
}

/** Whether two zones show the same clock at `at` (the viewer's line is left out then). */
export function sameClock(at: Date, a: string, b: string): boolean {
  return zoneOffsetMs(at, a) === zoneOffsetMs(at, b);
}

const dateFormat = (zone: string) => formatter(`date|${zone}`, () => new Intl.DateTimeFormat(LOCALE, { timeZone: zone, day: 'numeric', month: 'short', year: 'numeric' }));
const timeFormat = (zone: string, seconds: boolean) =>
  formatter(`time|${zone}|${seconds}`, () => new Intl.DateTimeFormat(LOCALE, { timeZone: zone, hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}), hourCycle: 'h23' }));

const valid = (d: Date): boolean => !Number.isNaN(d.getTime());

/** "26 Nov 2026" in `zone`. */
export function formatDate(iso: string, zone: string): string {
  const d = new Date(iso);
  return valid(d) ? dateFormat(zone).format(d) : iso;
}

/** "09:00 CET" (with seconds when `seconds`). */
export function formatClock(iso: string, zone: string, opts: { seconds?: boolean } = {}): string {
  const d = new Date(iso);
  return valid(d) ? `${timeFormat(zone, opts.seconds === true).format(d)} ${zoneAbbreviation(d, zone)}` : iso;
}

/** "09:00–10:30 CET": a window's times of day, without its date. */
export function formatClockSpan(startIso: string, endIso: string, zone: string): string {
  const start = new Date(startIso);
  const end = new Date(endIso);
  if (!valid(start) || !valid(end)) return `${startIso} – ${endIso}`;
  if (zoneAbbreviation(start, zone) !== zoneAbbreviation(end, zone)) return `${formatClock(startIso, zone)} – ${formatClock(endIso, zone)}`;
  return `${timeFormat(zone, false).format(start)}–${timeFormat(zone, false).format(end)} ${zoneAbbreviation(end, zone)}`;
}

/** "26 Nov 2026, 09:00 CET". */
export function formatInstant(iso: string, zone: string, opts: { seconds?: boolean } = {}): string {
  const d = new Date(iso);
  return valid(d) ? `${dateFormat(zone).format(d)}, ${formatClock(iso, zone, opts)}` : iso;
}

/**
 * A window: "26 Nov 2026, 09:00–10:30 CET" within a day (and one abbreviation, unless the clocks
 * change in between), else "26 Nov 2026, 22:00 CET – 27 Nov 2026, 01:00 CET".
 */
export function formatSpan(startIso: string, endIso: string, zone: string): string {
  const start = new Date(startIso);
  const end = new Date(endIso);
  if (!valid(start) || !valid(end)) return `${startIso} – ${endIso}`;
  const sameDay = dateFormat(zone).format(start) === dateFormat(zone).format(end);
  const sameAbbr = zoneAbbreviation(start, zone) === zoneAbbreviation(end, zone);
  if (sameDay && sameAbbr) return `${dateFormat(zone).format(start)}, ${timeFormat(zone, false).format(start)}–${timeFormat(zone, false).format(end)} ${zoneAbbreviation(end, zone)}`;
  if (sameDay) return `${dateFormat(zone).format(start)}, ${formatClock(startIso, zone)} – ${formatClock(endIso, zone)}`;
  return `${formatInstant(startIso, zone)} – ${formatInstant(endIso, zone)}`;
}
