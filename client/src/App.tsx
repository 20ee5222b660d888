// The shell: who is signed in, sign-in and sign-out, and a nav to the sections the user's
// roles open. Each section is a screen of its own, chosen by the URL hash.
import { useEffect, useState } from 'react';
import { ApiError, errorMessage, getMe, getProviders, logout, type Me, type Provider, type Role } from './api.ts';
import { Inventory } from './admin/Inventory.tsx';
import { Inbox } from './approver/Inbox.tsx';
import { LiveSessions } from './approver/LiveSessions.tsx';
import { PendingFiles } from './approver/PendingFiles.tsx';
import { SiteRequests } from './approver/SiteRequests.tsx';
import { WatchScreen } from './approver/WatchScreen.tsx';
import { AuditLog } from './auditor/AuditLog.tsx';
import { ChatAccounts } from './chat/ChatAccounts.tsx';
import { Player } from './recordings/Player.tsx';
import { RecordingList } from './recordings/RecordingList.tsx';
import { SessionScreen } from './session/SessionScreen.tsx';
import { href, mayOpen, sectionsFor, useRoute, type Route } from './shared/route.ts';
import { MyRequests } from './vendor/MyRequests.tsx';
import { useNames } from './shared/directory.ts';
import { RequestForm } from './vendor/RequestForm.tsx';
import { VendorHome } from './vendor/VendorHome.tsx';

type Status =
  | { kind: 'loading' }
  | { kind: 'signed-out'; providers: Provider[] }
  | { kind: 'signed-in'; me: Me }
  | { kind: 'error'; message: string };

const ROLE_LABELS: Record<Role, string> = {
  vendor: 'Vendor',
  approver: 'Plant manager',
  auditor: 'Auditor',
  admin: 'Administrator',
  observer: 'Plant observer',
};

const roleNames = (roles: readonly Role[]) => roles.map((r) => ROLE_LABELS[r] ?? r).join(', ');

export function App() {
  const [status, setStatus] = useState<Status>({ kind: 'loading' });
  const route = useRoute();

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const user = await getMe();
        if (!cancelled) setStatus({ kind: 'signed-in', me: user });
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          const providers = await getProviders().catch(() => null);
          if (cancelled) return;
          setStatus(providers === null ? { kind: 'error', message: 'Airlock is unavailable.' } : { kind: 'signed-out', providers });
          return;
        }
        if (!cancelled) setStatus({ kind: 'error', message: errorMessage(err, 'Airlock is unavailable.') });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, []);

  async function signOut() {
    try {
      await logout();
      window.location.assign('/');
    } catch (err) {
      setStatus({ kind: 'error', message: errorMessage(err, 'Sign-out failed.') });
    }
  }

  const sections = status.kind === 'signed-in' ? sectionsFor(status.me.roles) : [];

  // A remote session is a workspace: the whole window, no header or navigation around it.
  if (status.kind === 'signed-in' && route.name === 'session' && route.id !== null && mayOpen('session', status.me.roles)) {
    return (
      <main id="main" className="workspace-main">
        <SessionScreen key={route.id} requestId={route.id} />
      </main>
    );
  }

  return (
    <div className="app">
      <SkipLink />
      <header className="topbar">
        <a className="brand" href={href('home')}>
          Airlock
        </a>
        {status.kind === 'signed-in' && (
          <span className="who">
            <span data-testid="user-name">{status.me.name}</span>
            <span className="roles" data-testid="user-roles">
              {roleNames(status.me.roles)}
            </span>
            <button type="button" onClick={signOut} data-testid="sign-out">
              Sign out
            </button>
          </span>
        )}
      </header>
      {sections.length > 0 && (
        <nav className="sections" aria-label="Sections" data-testid="nav">
          {sections.map((s) => (
            <a
              key={s.route}
              href={href(s.route)}
              className={route.name === s.route ? 'current' : undefined}
              aria-current={route.name === s.route ? 'page' : undefined}
              data-testid={`nav-${s.route}`}
            >
              {s.label}
            </a>
          ))}
        </nav>
      )}
      <main id="main" tabIndex={-1}>
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
        {status.kind === 'signed-in' && <Screen me={status.me} route={route} />}
      </main>
    </div>
  );
}

/**
 * The first stop for keyboard users: straight past the header and the navigation. Not a plain
 * `#main` link: the hash is the router's, so it would navigate away.
 */
function SkipLink() {
  return (
    <a
      className="skip-link"
      href="#main"
      onClick={(e) => {
        e.preventDefault();
        const main = document.getElementById('main');
        main?.focus();
        main?.scrollIntoView();
      }}
      data-testid="skip-link"
    >
      Skip to content
    </a>
  );
}

function Screen({ me, route }: { me: Me; route: Route }) {
  if (route.name === 'home') {
    return (
      <>
        <Profile me={me} />
        {me.roles.includes('vendor') && <VendorHome />}
      </>
    );
  }
  if (!mayOpen(route.name, me.roles)) {
    return (
      <section className="card" data-testid="section-forbidden">
        <h1>Not available</h1>
        <p>This section is not open to your roles ({roleNames(me.roles)}).</p>
        <a href={href('home')}>Back to your profile</a>
      </section>
    );
  }
  switch (route.name) {
    case 'request':
      // `?machine=<id>` (the home page's "Ask again") preselects a machine.
      return <RequestForm key={route.params.toString()} extendsId={route.params.get('extends')} machineId={route.params.get('machine')} />;
    case 'my':
      return <MyRequests />;
    case 'inbox':
      // Chat messages link to `#/inbox?request=<id>`: that opens the request.
      return <Inbox focusId={route.params.get('request')} />;
    case 'site':
      // Chat and the audit log link to `#/site?request=<id>`: that request is shown on top.
      return <SiteRequests key={route.params.get('request') ?? ''} canRevoke={me.roles.includes('approver') || me.roles.includes('admin')} focusId={route.params.get('request')} />;
    case 'live':
      return <LiveSessions canAct={me.roles.includes('approver') || me.roles.includes('admin') || me.roles.includes('observer')} />;
    case 'files':
      // Chat's file messages link to `#/files`; deciding follows the server's rule (a plant person of the site, or an admin).
      return <PendingFiles canDecide={me.roles.includes('approver') || me.roles.includes('admin') || me.roles.includes('observer')} />;
    case 'session':
      return route.id === null ? null : <SessionScreen key={route.id} requestId={route.id} />;
    case 'watch':
      return route.id === null ? null : <WatchScreen key={route.id} sessionId={route.id} meId={me.id} />;
    case 'admin':
      return <Inventory />;
    case 'audit':
      return <AuditLog />;
    case 'chat':
      return <ChatAccounts />;
    case 'recordings': {
      // Chat messages link to `#/recordings?session=<id>`: that opens the session's player.
      const session = route.params.get('session');
      if (session !== null && session !== '') return <Player key={session} sessionId={session} />;
      return <RecordingList key={route.params.toString()} initial={route.params} />;
    }
    case 'recording':
      return route.id === null ? null : <Player key={route.id} sessionId={route.id} />;
  }
}

function Profile({ me }: { me: Me }) {
  const sections = sectionsFor(me.roles);
  const names = useNames();
  return (
    <section className="card" data-testid="profile">
      <h1>Welcome, {me.name}</h1>
      <dl>
        <dt>Signed in as</dt>
        <dd>{me.email ?? me.id}</dd>
        <dt>Role</dt>
        <dd data-testid="role">{roleNames(me.roles)}</dd>
        {me.company !== null && (
          <>
            <dt>Company</dt>
            <dd data-testid="profile-company">{names.company(me.company)}</dd>
          </>
        )}
        {me.sites.length > 0 && (
          <>
            <dt>Sites</dt>
            <dd data-testid="profile-sites">{me.sites.map((s) => names.site(s)).join(', ')}</dd>
          </>
        )}
      </dl>
      {sections.length > 0 && (
        <p className="actions">
          {sections.map((s) => (
            <a key={s.route} className="button secondary" href={href(s.route)}>
              {s.label}
            </a>
          ))}
        </p>
      )}
    </section>
  );
}
