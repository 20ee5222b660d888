// What the recordings API shows of a recording (docs/api.md, "Recordings"): the summary without
// where the store keeps it, and the details page's summary with its manifest and verification.
import type { RecordingSummary } from './catalog.ts';
import type { Manifest, RecordingVerification } from './manifest.ts';

export type RecordingView = Omit<RecordingSummary, 'dir'>;

export interface RecordingDetailsView extends RecordingView {
  manifest: Manifest;
  verification: RecordingVerification;
}

/** GET /api/recordings: one page of a search, newest first. */
export interface RecordingPage {
  recordings: RecordingView[];
  total: number;
  nextCursor: string | null;
}

export function presentRecording(s: RecordingSummary): RecordingView {
  return {
    sessionId: s.sessionId,
    requestId: s.requestId,
    requester: s.requester,
    approvers: s.approvers,
    machine: s.machine,
    siteId: s.siteId,
    startedAt: s.startedAt,
    endedAt: s.endedAt,
    endReason: s.endReason,
    incomplete: s.incomplete,
    files: s.files,
  };
}

export const presentRecordingDetails = (s: RecordingSummary, manifest: Manifest, verification: RecordingVerification): RecordingDetailsView => ({
  ...presentRecording(s),
  manifest,
  verification,
});
