// Sites: list, add (never over an existing one), rename and set retention (naming the version
// the form loaded), the file airlock's rules (their own form), delete.
import { useState, type FormEvent } from 'react';
import { adminCreateSite, adminDeleteSite, adminUpdateSite, type SiteAdmin } from '../api.ts';
import { ListView } from '../shared/ListView.tsx';
import { AdminHeading, createOrUpdate, FormFooter, FormTitle, IdNameCells, idNameErrors, NumberField, RowActions, TextField, useEditing, useSaving, type FieldErrors } from './form.tsx';
import { SiteTimeZone } from './SiteTimeZone.tsx';
import { SiteFilesForm, siteFilesSummary } from './SiteFiles.tsx';

/** The server's bounds on a site's retention (days). */
const MAX_RETENTION_DAYS = 36_500;

export function Sites({ sites, onChanged }: { sites: SiteAdmin[]; onChanged: () => void }) {
  const editing = useEditing<SiteAdmin>(onChanged);
  const [filesOf, setFilesOf] = useState<string | null>(null);
  const filesSite = sites.find((s) => s.id === filesOf);

  return (
    <section className="card" data-testid="sites">
      <AdminHeading title="Sites" entity="site" onAdd={() => editing.edit(null)} />
      <ListView
        status="ready"
        items={sites}
        columns={['ID', 'Name', 'Recordings kept', 'Time zone', 'Files', { actions: true }]}
        row={(s) => (
          <tr key={s.id} data-testid={`site-row-${s.id}`}>
            <IdNameCells record={s} />
            <td>{s.retentionDays === undefined ? <span className="muted">portal default</span> : `${s.retentionDays} days`}</td>
            <td><SiteTimeZone site={s} onChanged={onChanged} /></td>
            <td className="muted" data-testid={`site-files-${s.id}`}>{siteFilesSummary(s)}</td>
            <RowActions entity="site" record={s} onEdit={() => editing.edit(s)} onDelete={() => adminDeleteSite(s.id, s.version).then(onChanged)}>
              <button type="button" className="secondary" onClick={() => setFilesOf(s.id)} data-testid={`edit-site-files-${s.id}`}>
                File rules
              </button>
            </RowActions>
          </tr>
        )}
        empty="No sites yet."
      />
      {filesSite !== undefined && <SiteFilesForm key={filesSite.id} site={filesSite} onSaved={() => (setFilesOf(null), onChanged())} onClose={() => setFilesOf(null)} />}
      {editing.open && <SiteForm key={editing.key} site={editing.record} onSaved={editing.saved} onClose={editing.close} />}
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
    const errors = idNameErrors(site === null, id, name, { noId: 'A site needs an ID.', noName: 'A site needs a name.' });
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
      await createOrUpdate(site, body, adminCreateSite, adminUpdateSite);
      onSaved();
    });
  }

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="site-form">
      <FormTitle record={site} newTitle="New site" />
      <div className="row">
        <TextField entity="site" field="id" label="Site ID" value={id} onChange={setId} disabled={site !== null} saving={saving} />
        <TextField entity="site" field="name" label="Site name" value={name} onChange={setName} saving={saving} />
        <NumberField entity="site" field="retentionDays" label="Keep recordings (days)" className="narrow" min={1} max={MAX_RETENTION_DAYS} value={retention} placeholder="default" onChange={setRetention} saving={saving} testId="site-retention" />
      </div>
      <FormFooter entity="site" saving={saving} onClose={onClose} onReload={onSaved} />
    </form>
  );
}
