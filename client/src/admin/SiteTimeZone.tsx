// A site's time zone, changed in place from the sites table: every time about the site is shown
// in it (server/plant-time.ts). Saved on its own (PUT …/time-zone), so it never races the name.
import { useState } from 'react';
import { adminPutSiteTimeZone, errorMessage, type Site } from '../api.ts';
import { timeZones } from '../../../server/plant-time.ts';
import { reloadDirectory } from '../shared/directory.ts';
import { zoneLabel } from '../shared/time.ts';

const ZONES = timeZones();

export function SiteTimeZone({ site, onChanged }: { site: Site; onChanged: () => void }) {
  const [state, setState] = useState<{ kind: 'idle' | 'saving' | 'saved' } | { kind: 'error'; message: string }>({ kind: 'idle' });

  async function change(timeZone: string) {
    setState({ kind: 'saving' });
    try {
      await adminPutSiteTimeZone(site.id, timeZone);
      setState({ kind: 'saved' });
      reloadDirectory();
      onChanged();
    } catch (err) {
      setState({ kind: 'error', message: errorMessage(err) });
    }
  }

  return (
    <span className="site-zone">
      <label>
        <span className="sr-only">Time zone of {site.name}</span>
        <select value={site.timeZone} disabled={state.kind === 'saving'} onChange={(e) => void change(e.target.value)} data-testid={`site-zone-${site.id}`}>
          {!ZONES.includes(site.timeZone) && <option value={site.timeZone}>{site.timeZone}</option>}
          {ZONES.map((z) => (
            <option key={z} value={z}>
              {z}
            </option>
          ))}
        </select>
      </label>{' '}
      <span className="muted">{zoneLabel(site.timeZone)}</span>
      {state.kind === 'saved' && (
        <span className="muted" role="status">
          {' '}
          saved
        </span>
      )}
      {state.kind === 'error' && (
        <span className="error" role="alert">
          {' '}
          {state.message}
        </span>
      )}
    </span>
  );
}
