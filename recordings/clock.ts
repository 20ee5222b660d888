// Two clocks meet in a recording. guacd's: the `sync` timestamps of recording.guac (and the keys
// the portal records beside them) count on libguac's guac_timestamp_current, a monotonic clock
// that starts at the host's boot, not the epoch. The session's: events.jsonl times and the
// timeline count milliseconds since the session's startedAt. The portal's recorder links them
// once, a `clock` event in events.jsonl at the moment it relayed the first sync.

export type ClockLink = { t: number; sync: number };

/** The `clock` event of an events.jsonl text, if the recorder wrote one. */
export function clockLink(eventsText: string): ClockLink | undefined {
  for (const raw of eventsText.split('\n')) {
    if (!raw.includes('"clock"')) continue;
    try {
      const e = JSON.parse(raw) as { t?: unknown; type?: unknown; sync?: unknown };
      if (e.type === 'clock' && typeof e.t === 'number' && typeof e.sync === 'number') return { t: e.t, sync: e.sync };
    } catch {
      // a torn line: not the link
    }
  }
  return undefined;
}

/** Within this of the session's start, a first sync is taken for epoch milliseconds (a recorder that wrote wall time). */
const EPOCH_LIKE_MS = 60_000;

/**
 * Where the recording's first frame sits on the session's clock (ms after startedAt), or null
 * when nothing says: no link (a recording from before the link, or guacd's own) and a first sync
 * that is not wall time. `firstSync` is the recording's first sync, when the caller read it.
 */
export function recordingStart(eventsText: string, startedAt: string, firstSync?: number): number | null {
  const link = clockLink(eventsText);
  if (link !== undefined) return Math.max(0, link.t - (firstSync === undefined ? 0 : link.sync - firstSync));
  const start = Date.parse(startedAt);
  if (firstSync !== undefined && Number.isFinite(start) && Math.abs(firstSync - start) <= EPOCH_LIKE_MS) return Math.max(0, firstSync - start);
  return null;
}
