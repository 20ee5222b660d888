// A site's file-airlock rules (PUT /api/admin/sites/:id/files): whether clean uploads reach the
// machine at once or wait for a plant manager, whether downloads are held, the size limit, and
// the blocked (or the only allowed) file types. Saved on their own, so they never race the name;
// the form closes on save and the sites table shows the rules.
import { useState, type FormEvent } from 'react';
import { adminPutSiteFiles, type SiteAdmin, type SiteFilesRules } from '../api.ts';
import { FieldError, FormFooter, useSaving, type FieldErrors } from './form.tsx';

/** What a site without rules gets (server/inventory/schema.ts DEFAULT_SITE_FILES). */
const DEFAULTS: SiteFilesRules = { release: 'approval', downloads: 'approval', maxBytes: 100 * 1024 * 1024, allowedTypes: [], blockedTypes: [] };
const MB = 1024 * 1024;

/** ".exe, .bat dll" → [".exe", ".bat", ".dll"]: a dot is added where it was left out. */
export function parseExtensions(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '')
    .map((t) => (t.startsWith('.') ? t : `.${t}`));
}

export function SiteFilesForm({ site, onSaved, onClose }: { site: SiteAdmin; onSaved: () => void; onClose: () => void }) {
  const rules = site.files ?? DEFAULTS;
  const [release, setRelease] = useState(rules.release);
  const [downloads, setDownloads] = useState(rules.downloads);
  const [maxMb, setMaxMb] = useState(String(Math.round((rules.maxBytes / MB) * 100) / 100));
  const [blocked, setBlocked] = useState(rules.blockedTypes.join(', '));
  const [allowed, setAllowed] = useState(rules.allowedTypes.join(', '));
  const saving = useSaving();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const mb = Number(maxMb);
    if (maxMb.trim() === '' || !Number.isFinite(mb) || mb <= 0) {
      saving.refuse({ maxBytes: 'A size in MB greater than 0.' } as FieldErrors);
      return;
    }
    const body: SiteFilesRules = { release, downloads, maxBytes: Math.max(1, Math.round(mb * MB)), blockedTypes: parseExtensions(blocked), allowedTypes: parseExtensions(allowed) };
    await saving.save(async () => {
      await adminPutSiteFiles(site.id, body);
      onSaved();
    });
  }

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="site-files-form">
      <h3>File rules of {site.name}</h3>
      <p className="muted">Every file into the plant is scanned first; an infected one is always blocked.</p>
      <div className="row">
        <label>
          Clean files into the plant
          <select value={release} onChange={(e) => setRelease(e.target.value as SiteFilesRules['release'])} data-testid="site-files-release">
            <option value="approval">wait for a plant manager’s approval</option>
            <option value="auto">are released automatically</option>
          </select>
        </label>
        <label>
          Files out of the plant (downloads)
          <select value={downloads} onChange={(e) => setDownloads(e.target.value as SiteFilesRules['downloads'])} data-testid="site-files-downloads">
            <option value="approval">are held until a plant manager releases them</option>
            <option value="direct">reach the vendor at once</option>
          </select>
        </label>
        <label className="narrow">
          Size limit (MB)
          <input type="number" min={0} step="any" value={maxMb} onChange={(e) => setMaxMb(e.target.value)} aria-invalid={saving.fieldErrors['maxBytes'] !== undefined} data-testid="site-files-max-mb" />
          <FieldError entity="site-files" field="maxBytes" saving={saving} />
        </label>
      </div>
      <div className="row">
        <label>
          Blocked file types
          <input type="text" value={blocked} placeholder=".exe, .bat, .ps1" onChange={(e) => setBlocked(e.target.value)} aria-invalid={saving.fieldErrors['blockedTypes'] !== undefined} data-testid="site-files-blocked" />
          <FieldError entity="site-files" field="blockedTypes" saving={saving} />
        </label>
        <label>
          Only these types (empty: any type not blocked)
          <input type="text" value={allowed} placeholder="any" onChange={(e) => setAllowed(e.target.value)} aria-invalid={saving.fieldErrors['allowedTypes'] !== undefined} data-testid="site-files-allowed" />
          <FieldError entity="site-files" field="allowedTypes" saving={saving} />
        </label>
      </div>
      <FormFooter entity="site-files" saving={saving} onClose={onClose} />
    </form>
  );
}

/** The rules in a few words, for the sites table. */
export function siteFilesSummary(site: SiteAdmin): string {
  const r = site.files ?? DEFAULTS;
  const size = r.maxBytes >= MB ? `${Math.round((r.maxBytes / MB) * 10) / 10} MB` : `${r.maxBytes} bytes`;
  return [r.release === 'auto' ? 'uploads auto-released' : 'uploads approved', r.downloads === 'approval' ? 'downloads held' : 'downloads direct', `≤ ${size}`, ...(r.blockedTypes.length > 0 ? [`blocks ${r.blockedTypes.join(' ')}`] : []), ...(r.allowedTypes.length > 0 ? [`only ${r.allowedTypes.join(' ')}`] : [])].join(' · ');
}
