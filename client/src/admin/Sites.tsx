// Sites: list, add, rename, delete.
import { useState, type FormEvent } from 'react';
import { adminDeleteSite, adminPutSite, type Site } from '../api.ts';
import { FormFooter, RowActions, useSaving } from './form.tsx';
import { SiteTimeZone } from './SiteTimeZone.tsx';

export function Sites({ sites, onChanged }: { sites: Site[]; onChanged: () => void }) {
  const [editing, setEditing] = useState<Site | 'new' | null>(null);

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
                <td><SiteTimeZone site={s} onChanged={onChanged} /></td>
                <RowActions
                  entity="site"
                  id={s.id}
                  name={s.name}
                  onEdit={() => setEditing(s)}
                  onDelete={async () => {
                    await adminDeleteSite(s.id);
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
          key={editing === 'new' ? 'new' : editing.id}
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

function SiteForm({ site, onSaved, onClose }: { site: Site | null; onSaved: () => void; onClose: () => void }) {
  const [id, setId] = useState(site?.id ?? '');
  const [name, setName] = useState(site?.name ?? '');
  const saving = useSaving();

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (id.trim() === '' || name.trim() === '') {
      saving.refuse('A site needs an ID and a name.');
      return;
    }
    await saving.save(async () => {
      await adminPutSite({ id: id.trim(), name: name.trim() });
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
          <input type="text" value={id} onChange={(e) => setId(e.target.value)} disabled={site !== null} required data-testid="site-id" />
        </label>
        <label>
          Site name
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} required data-testid="site-name" />
        </label>
      </div>
      <FormFooter entity="site" saving={saving} onClose={onClose} />
    </form>
  );
}
