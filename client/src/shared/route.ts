// Hash routing without a router dependency: `#/name?param=value`, or `#/name/<id>` for a screen
// about one thing (a session). The server serves index.html
// for every path, but hash routes need nothing from it.
import { useEffect, useState } from 'react';
import type { Role } from '../api.ts';

export type RouteName = 'home' | 'request' | 'my' | 'inbox' | 'site' | 'live' | 'admin' | 'audit' | 'recordings' | 'session' | 'watch' | 'recording' | 'chat' | 'files';

export interface Section {
  route: Exclude<RouteName, 'home'>;
  label: string;
  /** Any one of these roles opens the section. */
  roles: readonly Role[];
}

/** The sections in nav order, and who may open them (the server enforces it again). */
export const SECTIONS: readonly Section[] = [
  { route: 'request', label: 'Request access', roles: ['vendor'] },
  { route: 'my', label: 'My requests', roles: ['vendor'] },
  { route: 'inbox', label: 'Inbox', roles: ['approver'] },
  { route: 'site', label: 'Site requests', roles: ['approver', 'auditor', 'admin'] },
  { route: 'live', label: 'Live sessions', roles: ['approver', 'auditor', 'admin', 'observer'] },
  { route: 'files', label: 'Files', roles: ['approver', 'auditor', 'admin', 'observer'] },
  { route: 'admin', label: 'Inventory', roles: ['admin'] },
  { route: 'audit', label: 'Audit log', roles: ['auditor', 'admin'] },
  { route: 'recordings', label: 'Recordings', roles: ['auditor', 'admin', 'approver'] },
  { route: 'chat', label: 'Chat accounts', roles: ['approver', 'vendor'] },
];

/** Screens reached by a link with an id (`#/session/<requestId>`), not from the nav. */
export const ITEM_ROUTES: Readonly<Record<'session' | 'watch' | 'recording', readonly Role[]>> = {
  session: ['vendor'],
  watch: ['approver', 'admin', 'observer'],
  /** The player: `#/recording/<sessionId>`. Plant managers see their own sites' (server-side). */
  recording: ['auditor', 'admin', 'approver'],
};

export interface Route {
  name: RouteName;
  params: URLSearchParams;
  /** The `<id>` of `#/name/<id>`; null for routes without one. */
  id: string | null;
}

const NAMES = new Set<string>(['home', ...SECTIONS.map((s) => s.route)]);
const isItemRoute = (name: string): name is keyof typeof ITEM_ROUTES => Object.hasOwn(ITEM_ROUTES, name);

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  const slash = path.indexOf('/');
  if (slash !== -1) {
    const name = path.slice(0, slash);
    const id = safeDecode(path.slice(slash + 1));
    if (isItemRoute(name) && id !== null && id !== '') return { name, params, id };
  }
  const name = path === '' ? 'home' : path;
  return { name: NAMES.has(name) ? (name as RouteName) : 'home', params, id: null };
}

function safeDecode(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** `#/session/<id>`: the link to a screen about one thing. */
export function itemHref(name: keyof typeof ITEM_ROUTES, id: string): string {
  return `#/${name}/${encodeURIComponent(id)}`;
}

/** Whether a user with `roles` may open `name` (the server enforces it again). */
export function mayOpen(name: RouteName, roles: readonly Role[]): boolean {
  if (name === 'home') return true;
  const allowed = isItemRoute(name) ? ITEM_ROUTES[name] : SECTIONS.find((s) => s.route === name)?.roles;
  return allowed !== undefined && allowed.some((r) => roles.includes(r));
}

export function href(name: RouteName, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString();
  return `#/${name === 'home' ? '' : name}${q === '' ? '' : `?${q}`}`;
}

export function navigate(name: RouteName, params: Record<string, string> = {}): void {
  window.location.hash = href(name, params);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseHash(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function sectionsFor(roles: readonly Role[]): Section[] {
  return SECTIONS.filter((s) => s.roles.some((r) => roles.includes(r)));
}
