// The player's video export: asks the portal for an MP4 of the whole recording or from the
// current position on (a background job of the renderer worker), shows its progress, and links
// the file when it is done, with its SHA-256 (the one in the audit log).
import { useEffect, useState } from 'react';
import { errorMessage, getVideoExport, requestVideoExport, type VideoExport } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
import type { AnyPlayback } from './Player.tsx';

/** How often a running job is asked about (it updates its progress about twice a second). */
const POLL_MS = 1_000;

export function ExportVideo({ sessionId, playback }: { sessionId: string; playback: AnyPlayback | null }) {
  const [job, setJob] = useState<VideoExport | null>(null);
  const [error, setError] = useState<string | null>(null);
  const running = job !== null && (job.state === 'queued' || job.state === 'running');

  useEffect(() => {
    if (job === null || !running) return;
    const timer = window.setTimeout(() => {
      getVideoExport(sessionId, job.id).then(setJob, (err: unknown) => setError(errorMessage(err)));
    }, POLL_MS);
    return () => window.clearTimeout(timer);
  }, [sessionId, job, running]);

  const start = (fromHere: boolean) => {
    setError(null);
    const from = fromHere && playback !== null ? Math.floor(playback.state().position) : 0;
    requestVideoExport(sessionId, from > 0 ? { from } : {}).then(setJob, (err: unknown) => setError(errorMessage(err)));
  };

  return (
    <div className="player-export" data-testid="player-export">
      <button type="button" onClick={() => start(false)} disabled={running} data-testid="export-video">
        Export video
      </button>{' '}
      <button type="button" onClick={() => start(true)} disabled={running || playback === null} data-testid="export-video-from-here">
        Export from here
      </button>
      {job !== null && running && (
        <span data-testid="export-progress" data-progress={job.progress}>
          {' '}
          {job.state === 'queued' ? 'Waiting for the renderer…' : 'Rendering…'} <progress max={1} value={job.progress} /> {Math.round(job.progress * 100)} %
        </span>
      )}
      {job !== null && job.state === 'done' && job.fileUrl !== null && (
        <span>
          {' '}
          <a href={job.fileUrl} download data-testid="export-download">
            Download the video
          </a>{' '}
          <span className="muted" data-testid="export-sha256">
            SHA-256 {job.sha256}
          </span>
        </span>
      )}
      {job !== null && job.state === 'failed' && <ErrorMessage message={`The export failed: ${job.error ?? 'unknown error'}`} testId="export-error" />}
      {error !== null && <ErrorMessage message={error} testId="export-error" />}
    </div>
  );
}
