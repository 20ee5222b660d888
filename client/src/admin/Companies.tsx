// Vendor companies and the sites each may request access to: add (never over an existing
// one), edit (naming the version the form loaded), delete.
import { useState, type FormEvent } from 'react';
import { adminCreateCompany, adminDeleteCompany, adminListCompanies, adminUpdateCompany, type CompanyAdmin, type Site } from '../api.ts';
import { Chips } from '../shared/components.tsx';
import { listOf, ListView } from '../shared/ListView.tsx';
import { useLoad } from '../shared/load.ts';
import { AdminHeading, createOrUpdate, FieldError, FormFooter, FormTitle, IdNameCells, idNameErrors, RowActions, TextField, useEditing, useSaving } from './form.tsx';

export function Companies({ sites }: { sites: Site[] }) {
  const { state, reload } = useLoad<CompanyAdmin[]>(adminListCompanies, 'companies');
  const editing = useEditing<CompanyAdmin>(reload);
  const siteName = (id: string) => sites.find((s) => s.id === id)?.name ?? id;

  return (
    <section className="card" data-testid="companies">
      <AdminHeading title="Vendor companies" entity="company" onAdd={() => editing.edit(null)} />
      <ListView
        {...listOf(state, (d) => d)}
        columns={['ID', 'Name', 'May request', { actions: true }]}
        row={(c) => (
          <tr key={c.id} data-testid={`company-row-${c.id}`}>
            <IdNameCells record={c} />
            <td>
              <Chips items={c.sites.map(siteName)} />
            </td>
            <RowActions entity="company" record={c} onEdit={() => editing.edit(c)} onDelete={() => adminDeleteCompany(c.id, c.version).then(reload)} />
          </tr>
        )}
        empty="No vendor companies yet."
        testIds={{ loadError: 'companies-load-error' }}
      />
      {editing.open && <CompanyForm key={editing.key} company={editing.record} sites={sites} onSaved={editing.saved} onClose={editing.close} />}
    </section>
  );
}

function CompanyForm({ company, sites, onSaved, onClose }: { company: CompanyAdmin | null; sites: Site[]; onSaved: () => void; onClose: () => void }) {
  const [id, setId] = useState(company?.id ?? '');
  const [name, setName] = useState(company?.name ?? '');
  const [allowed, setAllowed] = useState<Set<string>>(() => new Set(company?.sites ?? []));
  const saving = useSaving();

  function toggle(siteId: string, on: boolean) {
    const next = new Set(allowed);
    if (on) next.add(siteId);
    else next.delete(siteId);
    setAllowed(next);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    const errors = idNameErrors(company === null, id, name, { noId: 'A company needs an ID.', noName: 'A company needs a name.' });
    if (Object.keys(errors).length > 0) {
      saving.refuse(errors);
      return;
    }
    const body = { id: id.trim(), name: name.trim(), sites: [...allowed] };
    await saving.save(async () => {
      await createOrUpdate(company, body, adminCreateCompany, adminUpdateCompany);
      onSaved();
    });
  }

  // Sites the company lists but the site list lacks stay visible so they can be unticked.
  const unknown = [...allowed].filter((s) => !sites.some((site) => site.id === s));

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="company-form">
      <FormTitle record={company} newTitle="New vendor company" idHint="The ID must match the company claim of the vendors' sign-in (lower-case letters, digits, “.”, “_”, “-”)." />
      <div className="row">
        <TextField entity="company" field="id" label="Company ID" value={id} onChange={setId} disabled={company !== null} saving={saving} />
        <TextField entity="company" field="name" label="Company name" value={name} onChange={setName} saving={saving} />
      </div>
      <fieldset>
        <legend>Sites this company may request</legend>
        {sites.length === 0 && <p className="muted">Add a site first.</p>}
        {[...sites.map((s) => ({ id: s.id, name: s.name })), ...unknown.map((s) => ({ id: s, name: `${s} (unknown site)` }))].map((s) => (
          <label key={s.id} className="check">
            <input type="checkbox" checked={allowed.has(s.id)} onChange={(e) => toggle(s.id, e.target.checked)} data-testid={`company-site-${s.id}`} />
            {s.name}
          </label>
        ))}
        <FieldError entity="company" field="sites" saving={saving} />
      </fieldset>
      <FormFooter entity="company" saving={saving} onClose={onClose} onReload={onSaved} />
    </form>
  );
}
