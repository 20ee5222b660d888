// "Inventory" (admin): sites, vendor companies and the sites they may request, machines and
// their write-only credentials. Sites are loaded once here because every section names them.
import { adminListSites, type SiteAdmin } from '../api.ts';
import { ErrorMessage, Loading } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';
import { Companies } from './Companies.tsx';
import { Machines } from './Machines.tsx';
import { Sites } from './Sites.tsx';

export function Inventory() {
  const { state, reload } = useLoad<SiteAdmin[]>(adminListSites, 'sites');
  return (
    <div className="wide" data-testid="inventory">
      <h1>Inventory</h1>
      {state.status === 'loading' && <Loading />}
      {state.status === 'error' && <ErrorMessage message={state.message} testId="inventory-load-error" />}
      {state.status === 'ready' && (
        <>
          <ErrorMessage message={state.refreshError} />
          <Sites sites={state.data} onChanged={reload} />
          <Companies sites={state.data} />
          <Machines sites={state.data} />
        </>
      )}
    </div>
  );
}
