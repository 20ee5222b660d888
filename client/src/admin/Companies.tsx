// Vendor companies and the sites each may request access to.
import { useState, type FormEvent } from 'react';
import { adminDeleteCompany, adminListCompanies, adminPutCompany, type Company, type Site } from '../api.ts';
import { Chips, ErrorMessage, Loading } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';
import { FormFooter, RowActions, useSaving } from './form.tsx';

export function Companies({ sites }: { sites: Site[] }) {
  const { state, reload } = useLoad<Company[]>(adminListCompanies, 'companies');
  const [editing, setEditing] = useState<Company | 'new' | null>(null);
  const siteName = (id: string) => sites.find((s) => s.id === id)?.name ?? id;

  return (
    <section className="card" data-testid="companies">
      <div className="heading">
        <h2>Vendor companies</h2>
        <button type="button" onClick={() => setEditing('new')} data-testid="add-company">
          Add company
        </button>
      </div>
      {state.status === 'loading' && <Loading />}
      {state.status === 'error' && <ErrorMessage message={state.message} testId="companies-load-error" />}
      {state.status === 'ready' && (
        <>
          <ErrorMessage message={state.refreshError} />
          {state.data.length === 0 ? (
            <p className="muted">No vendor companies yet.</p>
          ) : (
            <table className="table">
              <thead>
                <tr>
                  <th>ID</th>
                  <th>Name</th>
                  <th>May request</th>
                  <th>
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {state.data.map((c) => (
                  <tr key={c.id} data-testid={`company-row-${c.id}`}>
                    <td>
                      <code>{c.id}</code>
                    </td>
                    <td>{c.name}</td>
                    <td>
                      <Chips items={c.sites.map(siteName)} />
                    </td>
                    <RowActions
                      entity="company"
                      id={c.id}
                      name={c.name}
                      onEdit={() => setEditing(c)}
                      onDelete={async () => {
                        await adminDeleteCompany(c.id);
                        reload();
                      }}
                    />
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
      {editing !== null && (
        <CompanyForm
          key={editing === 'new' ? 'new' : editing.id}
          company={editing === 'new' ? null : editing}
          sites={sites}
          onSaved={() => {
            setEditing(null);
            reload();
          }}
          onClose={() => setEditing(null)}
        />
      )}
    </section>
  );
}

function CompanyForm({ company, sites, onSaved, onClose }: { company: Company | null; sites: Site[]; onSaved: () => void; onClose: () => void }) {
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
    if (id.trim() === '' || name.trim() === '') {
      saving.refuse('A company needs an ID and a name.');
      return;
    }
    await saving.save(async () => {
      await adminPutCompany({ id: id.trim(), name: name.trim(), sites: [...allowed] });
      onSaved();
    });
  }

  // Sites the company lists but the site list lacks stay visible so they can be unticked.
  const unknown = [...allowed].filter((s) => !sites.some((site) => site.id === s));

  return (
    <form className="form panel" onSubmit={submit} noValidate data-testid="company-form">
      <h3>{company === null ? 'New vendor company' : `Edit ${company.name}`}</h3>
      {company === null && <p className="muted">The ID must match the company claim of the vendors' sign-in (lower-case letters, digits, “.”, “_”, “-”).</p>}
      <div className="row">
        <label>
          Company ID
          <input type="text" value={id} onChange={(e) => setId(e.target.value)} disabled={company !== null} required data-testid="company-id" />
        </label>
        <label>
          Company name
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} required data-testid="company-name" />
        </label>
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
      </fieldset>
      <FormFooter entity="company" saving={saving} onClose={onClose} />
    </form>
  );
}
