// Sites: list, add (never over an existing one), rename and set retention (naming the version
// the form loaded), delete.
import { useState, type FormEvent } from 'react';
import { adminCreateSite, adminDeleteSite, adminUpdateSite, type SiteAdmin } from '../api.ts';
import { FieldError, FormFooter, ID_HINT, ID_PATTERN, RowActions, useSaving, type FieldErrors } from './form.tsx';
import { SiteTimeZone } from './SiteTimeZone.tsx';

/** The server's bounds on a site's retention (days). */
const MAX_RETENTION_DAYS = 36_500;

export function Sites({ sites, onChanged }: { sites: SiteAdmin[]; onChanged: () => void }) {
  const [editing, setEditing] = useState<SiteAdmin | 'new' | null>(null);

  return (
    <section className="card" data-testid="sites">
      <div className="heading">
        <h2>Sites</h2>
        <button type="button" onClick={() => setEditing('new')} data-testid="add-site">
          Add site
        </button>
      </div>
      {sites.length === 0 ? (
        <p className="muted">No sites yet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>ID</th>
              <th>Name</th>
              <th>Recordings kept</th>
              <th>Time zone</th>
              <th>
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {sites.map((s) => (
              <tr key={s.id} data-testid={`site-row-${s.id}`}>
                <td>
                  <code>{s.id}</code>
                </td>
                <td>{s.name}</td>
                <td>{s.retentionDays === undefined ? <span className="muted">portal default</span> : `${s.retentionDays} days`}</td>
                <td><SiteTimeZone site={s} onChanged={onChanged} /></td>
                <RowActions
                  entity="site"
                  id={s.id}
                  name={s.name}
                  onEdit={() => setEditing(s)}
                  onDelete={async () => {
                    await adminDeleteSite(s.id, s.version);
                    onChanged();
                  }}
                />
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {editing !== null && (
        <SiteForm
          key={editing === 'new' ? 'new' : `${editing.id}@${editing.version}`}
          site={editing === 'new' ? null : editing}
          onSaved={() => {
            setEditing(null);
            onChanged();
          }}
          onClose={() => setEditing(null)}
        />
      )}
    </section>
  );
}

function SiteForm({ site, onSaved, onClose }: { site: SiteAdmin | null; onSaved: () => void; onClose: () => void }) {
  const [id, setId] = useState(site?.id ?? '');
  const [name, setName] = useState(site?.name ?? '');
  const [retention, setRetention] = useState(site?.retentionDays === undefined ? '' : String(site.retentionDays));
  const saving = useSaving();

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors: Record<string, string> = {};
    if (site === null && !ID_PATTERN.test(id.trim())) errors['id'] = id.trim() === '' ? 'A site needs an ID.' : ID_HINT;
    if (name.trim() === '') errors['name'] = 'A site needs a name.';
    const days = Number(retention);
    if (retention.trim() !== '' && (!Number.isInteger(days) || days < 1 || days > MAX_RETENTION_DAYS)) {
      errors['retentionDays'] = `A whole number of days from 1 to ${MAX_RETENTION_DAYS}, or empty for the portal's default.`;
    }
    if (Object.keys(errors).length > 0) {
      saving.refuse(errors as FieldErrors);
      return;
    }
    const body = { id: id.trim(), name: name.trim(), ...(retention.trim() === '' ? {} : { retentionDays: days }) };
    await saving.save(async () => {
      if (site === null) await adminCreateSite(body);
      else await adminUpdateSite(body, site.version);
      onSaved();
    });
  }

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="site-form">
      <h3>{site === null ? 'New site' : `Edit ${site.name}`}</h3>
      {site === null && <p className="muted">IDs use lower-case letters, digits, “.”, “_” and “-”, and cannot change later.</p>}
      <div className="row">
        <label>
          Site ID
          <input type="text" value={id} onChange={(e) => setId(e.target.value)} disabled={site !== null} required aria-invalid={saving.fieldErrors['id'] !== undefined} data-testid="site-id" />
          <FieldError entity="site" field="id" saving={saving} />
        </label>
        <label>
          Site name
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} required aria-invalid={saving.fieldErrors['name'] !== undefined} data-testid="site-name" />
          <FieldError entity="site" field="name" saving={saving} />
        </label>
        <label className="narrow">
          Keep recordings (days)
          <input
            type="number"
            min={1}
            max={MAX_RETENTION_DAYS}
            value={retention}
            placeholder="default"
            onChange={(e) => setRetention(e.target.value)}
            aria-invalid={saving.fieldErrors['retentionDays'] !== undefined}
            data-testid="site-retention"
          />
          <FieldError entity="site" field="retentionDays" saving={saving} />
        </label>
      </div>
      <FormFooter entity="site" saving={saving} onClose={onClose} onReload={onSaved} />
    </form>
  );
}
