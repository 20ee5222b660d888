// Sites: list, add, rename, delete.
import { useState, type FormEvent } from 'react';
import { adminDeleteSite, adminPutSite, errorMessage, type Site } from '../api.ts';
import { ErrorMessage } from '../shared/components.tsx';
import { ConfirmDelete } from './ConfirmDelete.tsx';

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
                <td className="actions-cell">
                  <button type="button" className="secondary" onClick={() => setEditing(s)} data-testid={`edit-site-${s.id}`}>
                    Edit
                  </button>
                  <ConfirmDelete
                    testId={`delete-site-${s.id}`}
                    what={s.name}
                    onDelete={async () => {
                      await adminDeleteSite(s.id);
                      onChanged();
                    }}
                  />
                </td>
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (id.trim() === '' || name.trim() === '') {
      setError('A site needs an ID and a name.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await adminPutSite({ id: id.trim(), name: name.trim() });
      onSaved();
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
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
      <ErrorMessage message={error} testId="site-form-error" />
      <p className="actions">
        <button type="submit" disabled={busy} data-testid="site-save">
          Save site
        </button>
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      </p>
    </form>
  );
}
