// In-memory storage for the development IdP (oidc-provider's adapter interface). Dev-only state
// that may vanish with the process; naming it ourselves also keeps oidc-provider from warning.
import type { Adapter, AdapterPayload } from 'oidc-provider';

interface Entry {
  payload: AdapterPayload;
  expiresAt: number | undefined;
}

/** A fresh store per IdP instance (tests run several portals in one process). */
export function createDevIdpStore(): new (model: string) => Adapter {
  const stores = new Map<string, Map<string, Entry>>();
  return class extends DevIdpModelStore {
    constructor(model: string) {
      let store = stores.get(model);
      if (store === undefined) {
        store = new Map();
        stores.set(model, store);
      }
      super(store);
    }
  };
}

class DevIdpModelStore implements Adapter {
  private readonly entries: Map<string, Entry>;

  constructor(entries: Map<string, Entry>) {
    this.entries = entries;
  }

  private live(id: string): AdapterPayload | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.payload;
  }

  async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
    this.entries.set(id, { payload, expiresAt: expiresIn > 0 ? Date.now() + expiresIn * 1000 : undefined });
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    return this.live(id);
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    for (const id of this.entries.keys()) {
      const p = this.live(id);
      if (p?.userCode === userCode) return p;
    }
    return undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    for (const id of this.entries.keys()) {
      const p = this.live(id);
      if (p?.uid === uid) return p;
    }
    return undefined;
  }

  async consume(id: string): Promise<void> {
    const p = this.live(id);
    if (p !== undefined) p.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.entries.delete(id);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const [id, entry] of this.entries) if (entry.payload.grantId === grantId) this.entries.delete(id);
  }
}
