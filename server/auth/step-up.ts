// Step-up: a machine may require that the person opening a session signed in with a second
// factor within the last N minutes (its `stepUpMinutes`). The ticket office asks here; the
// answer 401 step_up_required sends the browser to GET /auth/login?stepUp=true, which asks the
// IdP for a fresh authentication (`max_age`) with a second factor (`acr_values`).
import { AppError } from '../errors.ts';
import type { IdentityRecord } from './identity-store.ts';

export const STEP_UP_REQUIRED = 'step_up_required';

/**
 * The `max_age` of a step-up sign-in: the IdP must have authenticated the person this recently.
 * Well under the shortest step-up a machine may ask for (inventory: 5 minutes), so a step-up
 * that succeeded always satisfies the machine that asked; a minute leaves time for the IdP's
 * own pages after the second factor (openid-client adds 30 s of clock tolerance).
 */
export const STEP_UP_MAX_AGE_SECONDS = 60;

export const stepUpRequired = (minutes: number): AppError =>
  new AppError(
    401,
    STEP_UP_REQUIRED,
    `This machine needs a sign-in with your second factor (such as a one-time code) within the last ${minutes} minutes. Confirm it with your identity provider, then open the session again.`,
    { report: false },
  );

/** Whether the sign-in's second factor is recent enough for a machine asking for it within `minutes`. */
export function stepUpSatisfied(record: Pick<IdentityRecord, 'mfaAt'> | undefined, minutes: number, now = Date.now()): boolean {
  if (record === undefined || record.mfaAt === null) return false;
  return now - record.mfaAt <= minutes * 60_000;
}
