// Prometheus metrics of one portal instance (prom-client): one registry and the typed metric
// objects that features and sessions count into, one line at each place that knows the fact.
// What is a state rather than an event (live sessions, guacd health, Redis) is read at scrape
// time from sources the composition root hands in, so it can never drift from the truth.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What the scrape reads from the running portal (wired by server/app/portal.ts). */
export interface MetricSources {
  /** This instance's sessions that have started (first frame), one entry each. */
  liveSessions(): Iterable<{ siteId: string; protocol: string }>;
  /** This instance's sessions still setting up (waiting for a slot, guacd or the first frame). */
  settingUp(): number;
  /** Each configured guacd as its last handshake found it. */
  guacds(): Record<string, { ok: boolean; version: string | null }>;
  /** Round trip of a PING in seconds; undefined when Redis did not answer in time. */
  redisPing(): Promise<number | undefined>;
}

/** The end reasons that mean the recording could not be written (sessions/live-session.ts). */
export function isRecordingFailure(reason: string): boolean {
  return reason.startsWith('recording_') || reason === 'input_log_failed';
}

// Set-up takes 0.1–2 s on an idle plant (LAB.md: RDP's first frame ~1.7 s) and up to the 15 s
// ready timeout under load; finalising waits up to 15 s for guacd to let go of its files and
// retries for as long as the store is down.
const SETUP_BUCKETS = [0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30];
const FINALISE_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 900];

// One line per metric: each registers itself in the instance's registry.
function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[]): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

function histogram<L extends string>(registry: Registry, name: string, help: string, buckets: number[], labelNames: readonly L[]): Histogram<L> {
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}

/** A gauge; with `collect`, its value is read at scrape time. */
function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], collect?: (m: Gauge<L>) => void | Promise<void>): Gauge<L> {
  if (collect === undefined) return new Gauge({ name, help, labelNames, registers: [registry] });
  return new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      return collect(this);
    },
  });
}

export class Metrics {
  readonly registry = new Registry();

  /** Ticket issued → first frame at the browser, per started session. */
  readonly setupSeconds = histogram(this.registry, 'airlock_session_setup_seconds', 'Time from the session ticket being issued to the first frame relayed to the browser.', SETUP_BUCKETS, ['site', 'protocol']);

  readonly sessionEnds = counter(this.registry, 'airlock_session_ends_total', 'Sessions that ended, by end reason; started="false" for those that never drew a frame (session.failed).', ['reason', 'started']);

  readonly recordingBytes = counter(this.registry, 'airlock_recording_bytes_total', 'Bytes of recordings finalised into the store, by file kind.', ['kind']);

  readonly recordingWriteFailures = counter(this.registry, 'airlock_recording_write_failures_total', 'Sessions ended because their recording could not be written, by reason.', ['reason']);

  readonly finaliseLagSeconds = histogram(this.registry, 'airlock_recording_finalise_lag_seconds', 'Time from a session end to its recording being moved, hashed, signed and indexed.', FINALISE_BUCKETS, []);

  readonly finaliseFailures = counter(this.registry, 'airlock_recording_finalise_failures_total', 'Finalising attempts that failed and will be retried.', []);

  readonly requestTransitions = counter(this.registry, 'airlock_request_transitions_total', 'Access request decisions applied (approve, deny, cancel, revoke), by the state they led to (an approval of a two-approver request leaves it pending).', ['action', 'state']);

  readonly refusals = counter(this.registry, 'airlock_refusals_total', 'Refused attempts (tickets, upgrades, session opens), by action and reason; every one, not only the individually audited ones.', ['action', 'reason']);

  readonly chatDeliveryFailures = counter(this.registry, 'airlock_chat_delivery_failures_total', 'Chat messages that could not be posted or updated, by platform and operation.', ['platform', 'operation']);

  private sources: MetricSources | undefined;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const sources = (): MetricSources | undefined => this.sources;
    gauge(this.registry, 'airlock_sessions_live', 'Sessions this instance relays right now (started: past their first frame), by site and protocol.', ['site', 'protocol'], (m) => {
      m.reset();
      for (const s of sources()?.liveSessions() ?? []) m.inc({ site: s.siteId, protocol: s.protocol });
    });
    gauge(this.registry, 'airlock_sessions_setting_up', 'Sessions on this instance that are still setting up (set-up slot, guacd, first frame).', [], (m) => {
      m.set(sources()?.settingUp() ?? 0);
    });
    gauge(this.registry, 'airlock_guacd_up', '1 when the guacd answered the last Guacamole handshake in time, else 0.', ['guacd'], (m) => {
      m.reset();
      for (const [guacd, g] of Object.entries(sources()?.guacds() ?? {})) m.set({ guacd }, g.ok ? 1 : 0);
    });
    gauge(this.registry, 'airlock_guacd_info', 'The protocol version each guacd offers in its handshake (VERSION_1_3_0 is guacd 1.3, with known CVEs; VERSION_1_5_0 is 1.5 and later); always 1.', ['guacd', 'version'], (m) => {
      m.reset();
      for (const [guacd, g] of Object.entries(sources()?.guacds() ?? {})) if (g.version !== null) m.set({ guacd, version: g.version }, 1);
    });
    const redisUp = gauge(this.registry, 'airlock_redis_up', '1 when Redis answered a PING at scrape time within 1 s.', []);
    gauge(this.registry, 'airlock_redis_ping_seconds', 'Round trip of a PING to Redis at scrape time (absent when it did not answer).', [], async (m) => {
      m.reset();
      const source = sources();
      if (source === undefined) return;
      const seconds = await source.redisPing();
      redisUp.set(seconds === undefined ? 0 : 1);
      if (seconds !== undefined) m.set(seconds);
    });
    // Process CPU, memory (RSS for sizing), event-loop lag, GC: prom-client's standard names.
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Called once the portal is assembled: the scrape reads the state from here on. */
  watch(sources: MetricSources): void {
    this.sources = sources;
  }

  /** A session ended (lifecycle): by reason, and as a recording failure when it was one. */
  sessionEnded(reason: string, started: boolean): void {
    this.sessionEnds.inc({ reason, started: String(started) });
    if (isRecordingFailure(reason)) this.recordingWriteFailures.inc({ reason });
  }

  /** A recording was finalised (lifecycle): its bytes by kind and how long after the end. */
  finalised(manifest: { files: ReadonlyArray<{ kind: string; bytes: number }> } | undefined, endedAt: Date): void {
    // undefined: another instance holds the session (it counts it) or there was nothing to finalise.
    if (manifest === undefined) return;
    for (const f of manifest.files) this.recordingBytes.inc({ kind: f.kind }, f.bytes);
    this.finaliseLagSeconds.observe(Math.max(0, Date.now() - endedAt.getTime()) / 1000);
  }

  /** The text exposition (Prometheus 0.0.4) and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
