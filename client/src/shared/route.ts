// Hash routing without a router dependency: `#/name?param=value`. The server serves index.html
// for every path, but hash routes need nothing from it.
import { useEffect, useState } from 'react';
import type { Role } from '../api.ts';

export type RouteName = 'home' | 'request' | 'my' | 'inbox' | 'site' | 'admin' | 'audit';

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
  { route: 'admin', label: 'Inventory', roles: ['admin'] },
  { route: 'audit', label: 'Audit log', roles: ['auditor', 'admin'] },
];

export interface Route {
  name: RouteName;
  params: URLSearchParams;
}

const NAMES = new Set<string>(['home', ...SECTIONS.map((s) => s.route)]);

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
  const name = path === '' ? 'home' : path;
  return { name: NAMES.has(name) ? (name as RouteName) : 'home', params };
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
