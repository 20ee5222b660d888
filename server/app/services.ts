// The domain services one portal instance runs, as the composition root wires them.
import type { AuditLog } from '../audit/store.ts';
import type { InventoryStore } from '../inventory/store.ts';
import type { Vault } from '../vault/vault.ts';
import type { EventBus } from '../events/bus.ts';
import type { RequestService } from '../requests/service.ts';
import type { PortalPlugin } from '../plugins/contract.ts';
import type { IdentityFreshness } from '../auth/freshness.ts';
import type { SessionBroker } from '../../sessions/broker.ts';
import type { RecordingCatalog } from '../../recordings/catalog.ts';
import type { Finaliser } from '../../recordings/finaliser.ts';
import type { ManifestSigner } from '../../recordings/signing.ts';
import type { RecordingService } from '../../recordings/service.ts';
import type { RenderWorker } from '../../recordings/worker.ts';

/** The domain services one portal instance runs; tests reach in through here. */
export interface PortalServices {
  readonly audit: AuditLog;
  readonly inventory: InventoryStore;
  readonly vault: Vault;
  readonly events: EventBus;
  readonly requests: RequestService;
  readonly plugins: readonly PortalPlugin[];
  readonly broker: SessionBroker;
  /** Identity freshness: the privileged-route middleware, and fresh users for the tunnel and chat. */
  readonly identity: IdentityFreshness;
  readonly recordings: {
    readonly catalog: RecordingCatalog;
    readonly finaliser: Finaliser;
    readonly signer: ManifestSigner;
    readonly service: RecordingService;
    /** The renderer worker when this portal hosts it (AIRLOCK_RENDER_WORKER=inprocess). */
    readonly worker: RenderWorker | undefined;
  };
}
