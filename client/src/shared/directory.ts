// Names and time zones of the sites, and names of the vendor companies, the user may see:
// loaded once per page and shared by every screen, so records that carry only ids (audit
// events, recordings, live sessions) are shown with names and in the site's time zone.
import { useSyncExternalStore } from 'react';
import { listCompanies, listSites, type CompanyName, type Site } from '../api.ts';

interface Directory {
  sites: ReadonlyMap<string, Site>;
  companies: ReadonlyMap<string, CompanyName>;
}

let current: Directory = { sites: new Map(), companies: new Map() };
let loading: Promise<void> | null = null;
const listeners = new Set<() => void>();

function load(): void {
  if (loading !== null) return;
  loading = Promise.all([listSites(), listCompanies()]).then(
    ([sites, companies]) => {
      current = { sites: new Map(sites.map((s) => [s.id, s])), companies: new Map(companies.map((c) => [c.id, c])) };
      for (const l of listeners) l();
    },
    () => {
      loading = null; // the next screen that asks tries again; until then ids and the viewer's zone are shown
    },
  );
}

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  load();
  return () => listeners.delete(listener);
}

export function useDirectory(): Directory {
  return useSyncExternalStore(subscribe, () => current);
}

/** The sites the user may see, by id (empty until loaded). */
export function useSites(): ReadonlyMap<string, Site> {
  return useDirectory().sites;
}

/** Name lookups that fall back to the id while loading or when the thing is gone. */
export function useNames(): { site(id: string | null | undefined): string; company(id: string | null | undefined): string } {
  const { sites, companies } = useDirectory();
  return {
    site: (id) => (id === null || id === undefined ? '' : (sites.get(id)?.name ?? id)),
    company: (id) => (id === null || id === undefined ? '' : (companies.get(id)?.name ?? id)),
  };
}

/** Forgets what was loaded (after an admin changed a site or company). */
export function reloadDirectory(): void {
  loading = null;
  load();
}
