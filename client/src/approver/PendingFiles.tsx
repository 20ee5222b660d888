// "Files": what the file airlock holds for the plant on the caller's sites. Files waiting for a
// plant manager (into the plant after a clean scan, or out of it where the site holds downloads),
// each with its name, size, SHA-256, scan result, session, vendor and machine, and Release / Deny;
// below them, the files blocked as infected in the last day. Live: `session.file` events refresh it.
import { useState } from 'react';
import { denyFile, errorMessage, pendingFiles, releaseFile, type PlantFileView } from '../api.ts';
import { useNames } from '../shared/directory.ts';
import { LiveHeading, OutcomeNotice, Time } from '../shared/components.tsx';
import { listOf, ListView, type Outcome } from '../shared/ListView.tsx';
import { useLiveRefresh } from '../shared/live.ts';
import { useLoad } from '../shared/load.ts';
import { itemHref } from '../shared/route.ts';

export const formatFileSize = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} B`);

const DIRECTION_WORDS: Record<PlantFileView['direction'], string> = {
  in: 'Into the plant',
  out: 'Out of the plant',
};

function scanWords(f: PlantFileView): string {
  if (f.scan === null) return f.direction === 'out' ? 'not scanned (from the machine)' : 'not scanned yet';
  if (f.scan.result === 'clean') return 'clean';
  if (f.scan.result === 'infected') return `infected: ${f.scan.signature ?? 'unknown signature'}`;
  return `no verdict (${f.scan.error ?? 'error'})`;
}

export function PendingFiles({ canDecide }: { canDecide: boolean }) {
  const { state: load, reload } = useLoad(pendingFiles, 'pending-files');
  const live = useLiveRefresh(reload); // session.file events: a new file, or a decision elsewhere
  const names = useNames();
  const [notice, setNotice] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const decide = async (f: PlantFileView, outcome: 'release' | 'deny') => {
    setBusy(f.id);
    try {
      await (outcome === 'release' ? releaseFile(f.id) : denyFile(f.id));
      setNotice({ ok: true, text: outcome === 'release' ? `Released ${f.name}${f.direction === 'in' ? `; it is delivered to ${f.machineName}` : ` to ${f.by.name}`}.` : `Denied ${f.name}: it does not ${f.direction === 'in' ? 'enter the plant' : 'leave the plant'}.` });
    } catch (err) {
      setNotice({ ok: false, text: `${f.name}: ${errorMessage(err, 'the decision failed')}` });
    } finally {
      setBusy(null);
      reload();
    }
  };

  return (
    <>
      <section className="card wide" data-testid="pending-files">
        <LiveHeading title="Files waiting for approval" live={live} />
        <p className="muted">Files stay in Airlock’s quarantine until released: nothing reaches the machine, or the vendor, before.</p>
        <OutcomeNotice notice={notice} testId="pending-files-notice" />
        <ListView
          {...listOf(load, (d) => d.files)}
          columns={['File', 'Scan', 'Direction', 'Vendor', 'Machine', 'Session', ...(canDecide ? [{ actions: true } as const] : [])]}
          row={(f) => (
            <tr key={f.id} data-testid={`pending-file-${f.id}`}>
              <FileCells file={f} siteName={names.site(f.machine.siteId)} />
              {canDecide && (
                <td className="actions-cell">
                  <div className="actions-stack">
                    <button type="button" disabled={busy === f.id} onClick={() => void decide(f, 'release')} data-testid={`release-file-${f.id}`}>
                      Release
                    </button>
                    <button type="button" className="danger" disabled={busy === f.id} onClick={() => void decide(f, 'deny')} data-testid={`deny-file-${f.id}`}>
                      Deny
                    </button>
                  </div>
                </td>
              )}
            </tr>
          )}
          empty="No files are waiting for approval."
          testIds={{ loadError: 'pending-files-error', empty: 'pending-files-empty' }}
        />
      </section>
      <section className="card wide" data-testid="blocked-files">
        <h2>Blocked as infected (last 24 hours)</h2>
        <ListView
          {...listOf(load, (d) => d.blocked)}
          columns={['File', 'Scan', 'Direction', 'Vendor', 'Machine', 'Session']}
          row={(f) => (
            <tr key={f.id} data-testid={`blocked-file-${f.id}`}>
              <FileCells file={f} siteName={names.site(f.machine.siteId)} />
            </tr>
          )}
          empty="No file was blocked."
          testIds={{ empty: 'blocked-files-empty' }}
        />
      </section>
    </>
  );
}

function FileCells({ file: f, siteName }: { file: PlantFileView; siteName: string }) {
  return (
    <>
      <td>
        <strong data-testid={`file-name-${f.id}`}>{f.name}</strong>
        <div className="muted">{formatFileSize(f.bytes)}</div>
        <div className="muted mono hash" title="SHA-256" data-testid={`file-sha256-${f.id}`}>
          SHA-256 {f.sha256}
        </div>
      </td>
      <td data-testid={`file-scan-${f.id}`} className={f.scan?.result === 'infected' ? 'error' : undefined}>
        {scanWords(f)}
      </td>
      <td data-testid={`file-direction-${f.id}`}>{DIRECTION_WORDS[f.direction]}</td>
      <td>
        {f.by.name}
        {f.vendorCompany !== null && <div className="muted">{f.vendorCompany}</div>}
      </td>
      <td>
        {f.machineName}
        <div className="muted">{siteName}</div>
      </td>
      <td>
        <Time iso={f.createdAt} site={f.machine.siteId} compact />
        <div>{f.sessionLive ? <a href={itemHref('watch', f.sessionId)}>Watch the session</a> : <span className="muted">session over</span>}</div>
      </td>
    </>
  );
}
