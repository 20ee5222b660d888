// When a request's window is, as filed and as an approval now would grant it: the rules the
// service checks and the approval Lua applies (a late approval clips the start to now; a "start
// when approved" window starts at the approval and keeps its length).
import type { AccessRequest } from './schema.ts';

/**
 * A "start when approved" request nobody decides within this long expires: the vendor asked for
 * access for the job at hand, and is unlikely to be at the machine a shift later.
 */
export const ON_APPROVAL_DECIDE_HOURS = 12;
export const ON_APPROVAL_DECIDE_MS = ON_APPROVAL_DECIDE_HOURS * 3_600_000;

export interface WindowMs {
  startMs: number;
  endMs: number;
}

/**
 * The window an approval at `nowMs` grants (before any approver shortens it): a fixed window
 * from max(start, now) to its end; a "start when approved" window from now for its length.
 */
export function approvalWindow(r: Pick<AccessRequest, 'windowStart' | 'windowEnd' | 'timing'>, nowMs: number): WindowMs {
  if (r.timing.start === 'on_approval') return { startMs: nowMs, endMs: nowMs + r.timing.durationMinutes * 60_000 };
  return { startMs: Math.max(Date.parse(r.windowStart), nowMs), endMs: Date.parse(r.windowEnd) };
}
