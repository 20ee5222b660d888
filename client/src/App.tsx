// The shell: who is signed in, sign-in and sign-out. Screens for each role hang off it.
import { useEffect, useState } from 'react';
import { api, ApiError, type Me, type Provider } from './api.ts';

type Status =
  | { kind: 'loading' }
  | { kind: 'signed-out'; providers: Provider[] }
  | { kind: 'signed-in'; me: Me }
  | { kind: 'error'; message: string };

const ROLE_LABELS: Record<string, string> = {
  vendor: 'Vendor',
  approver: 'Plant manager',
  auditor: 'Auditor',
  admin: 'Administrator',
};

export function App() {
  const [status, setStatus] = useState<Status>({ kind: 'loading' });

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const { user } = await api<{ user: Me }>('/api/me');
        if (!cancelled) setStatus({ kind: 'signed-in', me: user });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          const { providers } = await api<{ providers: Provider[] }>('/auth/providers');
          if (!cancelled) setStatus({ kind: 'signed-out', providers });
          return;
        }
        if (!cancelled) setStatus({ kind: 'error', message: err instanceof Error ? err.message : 'Airlock is unavailable.' });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  async function signOut() {
    try {
      await api<void>('/auth/logout', { method: 'POST' });
      window.location.assign('/');
    } catch (err) {
      setStatus({ kind: 'error', message: err instanceof Error ? err.message : 'Sign-out failed.' });
    }
  }

  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Airlock</span>
        {status.kind === 'signed-in' && (
          <span className="who">
            <span data-testid="user-name">{status.me.name}</span>
            <span className="roles" data-testid="user-roles">
              {status.me.roles.map((r) => ROLE_LABELS[r] ?? r).join(', ')}
            </span>
            <button type="button" onClick={signOut} data-testid="sign-out">
              Sign out
            </button>
          </span>
        )}
      </header>
      <main>
        {status.kind === 'loading' && <p>Loading…</p>}
        {status.kind === 'error' && (
          <p role="alert" className="error">
            {status.message}
          </p>
        )}
        {status.kind === 'signed-out' && (
          <section className="card">
            <h1>Sign in to Airlock</h1>
            <p>Just-in-time, approved and recorded access to plant machines.</p>
            {status.providers.map((p) => (
              <a key={p.id} className="button" href={`/auth/login?provider=${encodeURIComponent(p.id)}`} data-testid={`login-${p.id}`}>
                {p.label}
              </a>
            ))}
          </section>
        )}
        {status.kind === 'signed-in' && (
          <section className="card" data-testid="profile">
            <h1>Welcome, {status.me.name}</h1>
            <dl>
              <dt>Signed in as</dt>
              <dd>{status.me.email ?? status.me.id}</dd>
              <dt>Role</dt>
              <dd data-testid="role">{status.me.roles.map((r) => ROLE_LABELS[r] ?? r).join(', ')}</dd>
              {status.me.company !== null && (
                <>
                  <dt>Company</dt>
                  <dd>{status.me.company}</dd>
                </>
              )}
              {status.me.sites.length > 0 && (
                <>
                  <dt>Sites</dt>
                  <dd>{status.me.sites.join(', ')}</dd>
                </>
              )}
            </dl>
          </section>
        )}
      </main>
    </div>
  );
}
