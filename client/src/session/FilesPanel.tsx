// The session screen's file airlock: send files into the machine (a button, or drop them on the
// screen) and see each one's state — quarantined, scanning, clean and waiting for approval,
// released, delivered, blocked — and files from the machine, downloadable once released.
import { useCallback, useEffect, useState } from 'react';
import { errorMessage, fileContentUrl, listSessionFiles, uploadSessionFile, type FileListView, type FileView } from '../api.ts';
import { Panel } from './Toolbar.tsx';

/** How often the panel re-reads the files while it is open: states change within seconds. */
const REFRESH_MS = 1_000;

const STATE_LABELS: Record<FileView['state'], string> = {
  quarantined: 'In quarantine',
  scanning: 'Scanning',
  awaiting_approval: 'Clean — waiting for a plant manager',
  released: 'Released',
  delivering: 'Delivering',
  delivered: 'Delivered to the machine',
  blocked: 'Blocked',
  denied: 'Not released',
  failed: 'Failed',
  receiving: 'Receiving',
};

const size = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} B`);

/** Uploads the files one after another; each one's outcome shows in the list (or as a note). */
export function useFileUpload(sessionId: string | null, onDone: () => void): { send: (files: FileList | File[]) => void; note: string | null; busy: boolean } {
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const send = useCallback(
    (files: FileList | File[]) => {
      if (sessionId === null) return;
      setBusy(true);
      setNote(null);
      void (async () => {
        for (const file of Array.from(files)) {
          try {
            await uploadSessionFile(sessionId, file);
          } catch (err) {
            setNote(`${file.name}: ${errorMessage(err, 'the upload failed')}`);
          }
          onDone();
        }
        setBusy(false);
      })();
    },
    [sessionId, onDone],
  );
  return { send, note, busy };
}

export function FilesPanel({ sessionId, onClose, upload }: { sessionId: string; onClose: () => void; upload: ReturnType<typeof useFileUpload> }) {
  const [list, setList] = useState<FileListView | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let cancelled = false;
    listSessionFiles(sessionId).then(
      (l) => !cancelled && (setList(l), setProblem(null)),
      (err: unknown) => !cancelled && setProblem(errorMessage(err, 'The files could not be read.')),
    );
    const t = setTimeout(() => setTick((n) => n + 1), REFRESH_MS);
    return () => {
      cancelled = true;
      clearTimeout(t);
    };
  }, [sessionId, tick, upload.busy]);

  return (
    <Panel title="Files" testId="session-files" onClose={onClose}>
      {problem !== null && <p className="error">{problem}</p>}
      {list !== null && !list.supported && (
        <p className="muted" data-testid="session-files-unsupported">
          {list.reason}
        </p>
      )}
      {list?.supported === true && (
        <section>
          <p className="muted">
            Files go into quarantine and are scanned for malware first; {list.rules.release === 'auto' ? 'clean files are then delivered at once' : 'a plant manager releases clean files'}. At most {size(list.rules.maxBytes)} each
            {list.rules.allowedTypes.length > 0 ? `; types ${list.rules.allowedTypes.join(', ')}` : ''}. Drop files on the screen, or:
          </p>
          <label className="button">
            {upload.busy ? 'Sending…' : 'Send files…'}
            <input type="file" multiple hidden disabled={upload.busy} onChange={(e) => e.target.files !== null && upload.send(e.target.files)} data-testid="session-files-input" />
          </label>
          {upload.note !== null && (
            <p className="error" role="alert" data-testid="session-files-note">
              {upload.note}
            </p>
          )}
        </section>
      )}
      {list !== null && list.files.length > 0 && (
        <ul className="plain" data-testid="session-files-list">
          {list.files.map((f) => (
            <li key={f.id} data-testid={`session-file-${f.name}`} data-state={f.state}>
              <strong>{f.direction === 'in' ? '→ ' : '← '}{f.name}</strong> <span className="muted">{size(f.bytes)}</span>
              <br />
              <span className={f.state === 'blocked' || f.state === 'failed' || f.state === 'denied' ? 'error' : undefined}>{STATE_LABELS[f.state]}</span>
              {f.scan !== null && f.scan.result === 'infected' && <span> ({f.scan.signature})</span>}
              {f.problem !== null && f.state !== 'blocked' && <span className="muted"> — {f.problem.message}</span>}
              <br />
              <code className="muted" title="SHA-256">{f.sha256.slice(0, 16)}…</code>
              {f.direction === 'out' && f.state === 'released' && (
                <>
                  {' '}
                  <a href={fileContentUrl(f.id)} download={f.name} data-testid={`session-file-download-${f.name}`}>
                    Download
                  </a>
                </>
              )}
            </li>
          ))}
        </ul>
      )}
    </Panel>
  );
}
