// Vendor companies and the sites each may request access to: add (never over an existing
// one), edit (naming the version the form loaded), delete.
import { useState, type FormEvent } from 'react';
import { adminCreateCompany, adminDeleteCompany, adminListCompanies, adminUpdateCompany, type CompanyAdmin, type Site } from '../api.ts';
import { Chips, ErrorMessage, Loading } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';
import { FieldError, FormFooter, ID_HINT, ID_PATTERN, RowActions, useSaving } from './form.tsx';

export function Companies({ sites }: { sites: Site[] }) {
  const { state, reload } = useLoad<CompanyAdmin[]>(adminListCompanies, 'companies');
  const [editing, setEditing] = useState<CompanyAdmin | 'new' | null>(null);
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
                        await adminDeleteCompany(c.id, c.version);
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
          key={editing === 'new' ? 'new' : `${editing.id}@${editing.version}`}
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
    const errors: Record<string, string> = {};
    if (company === null && !ID_PATTERN.test(id.trim())) errors['id'] = id.trim() === '' ? 'A company needs an ID.' : ID_HINT;
    if (name.trim() === '') errors['name'] = 'A company needs a name.';
    if (Object.keys(errors).length > 0) {
      saving.refuse(errors);
      return;
    }
    const body = { id: id.trim(), name: name.trim(), sites: [...allowed] };
    await saving.save(async () => {
      if (company === null) await adminCreateCompany(body);
      else await adminUpdateCompany(body, company.version);
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
          <input type="text" value={id} onChange={(e) => setId(e.target.value)} disabled={company !== null} required aria-invalid={saving.fieldErrors['id'] !== undefined} data-testid="company-id" />
          <FieldError entity="company" field="id" saving={saving} />
        </label>
        <label>
          Company name
          <input type="text" value={name} onChange={(e) => setName(e.target.value)} required aria-invalid={saving.fieldErrors['name'] !== undefined} data-testid="company-name" />
          <FieldError entity="company" field="name" saving={saving} />
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
        <FieldError entity="company" field="sites" saving={saving} />
      </fieldset>
      <FormFooter entity="company" saving={saving} onClose={onClose} onReload={onSaved} />
    </form>
  );
}
