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

export class Metrics {
  readonly registry = new Registry();

  /** Ticket issued → first frame at the browser, per started session. */
  readonly setupSeconds = new Histogram({
    name: 'airlock_session_setup_seconds',
    help: 'Time from the session ticket being issued to the first frame relayed to the browser.',
    labelNames: ['site', 'protocol'] as const,
    buckets: SETUP_BUCKETS,
    registers: [this.registry],
  });

  readonly sessionEnds = new Counter({
    name: 'airlock_session_ends_total',
    help: 'Sessions that ended, by end reason; started="false" for those that never drew a frame (session.failed).',
    labelNames: ['reason', 'started'] as const,
    registers: [this.registry],
  });

  readonly recordingBytes = new Counter({
    name: 'airlock_recording_bytes_total',
    help: 'Bytes of recordings finalised into the store, by file kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly recordingWriteFailures = new Counter({
    name: 'airlock_recording_write_failures_total',
    help: 'Sessions ended because their recording could not be written, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly finaliseLagSeconds = new Histogram({
    name: 'airlock_recording_finalise_lag_seconds',
    help: 'Time from a session end to its recording being moved, hashed, signed and indexed.',
    buckets: FINALISE_BUCKETS,
    registers: [this.registry],
  });

  readonly finaliseFailures = new Counter({
    name: 'airlock_recording_finalise_failures_total',
    help: 'Finalising attempts that failed and will be retried.',
    registers: [this.registry],
  });

  readonly requestTransitions = new Counter({
    name: 'airlock_request_transitions_total',
    help: 'Access request decisions applied (approve, deny, cancel, revoke), by the state they led to (an approval of a two-approver request leaves it pending).',
    labelNames: ['action', 'state'] as const,
    registers: [this.registry],
  });

  readonly refusals = new Counter({
    name: 'airlock_refusals_total',
    help: 'Refused attempts (tickets, upgrades, session opens), by action and reason; every one, not only the individually audited ones.',
    labelNames: ['action', 'reason'] as const,
    registers: [this.registry],
  });

  readonly chatDeliveryFailures = new Counter({
    name: 'airlock_chat_delivery_failures_total',
    help: 'Chat messages that could not be posted or updated, by platform and operation.',
    labelNames: ['platform', 'operation'] as const,
    registers: [this.registry],
  });

  private sources: MetricSources | undefined;

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const sources = (): MetricSources | undefined => this.sources;
    new Gauge({
      name: 'airlock_sessions_live',
      help: "Sessions this instance relays right now (started: past their first frame), by site and protocol.",
      labelNames: ['site', 'protocol'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of sources()?.liveSessions() ?? []) this.inc({ site: s.siteId, protocol: s.protocol });
      },
    });
    new Gauge({
      name: 'airlock_sessions_setting_up',
      help: 'Sessions on this instance that are still setting up (set-up slot, guacd, first frame).',
      registers: [this.registry],
      collect() {
        this.set(sources()?.settingUp() ?? 0);
      },
    });
    new Gauge({
      name: 'airlock_guacd_up',
      help: "1 when the guacd answered the last Guacamole handshake in time, else 0.",
      labelNames: ['guacd'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [guacd, g] of Object.entries(sources()?.guacds() ?? {})) this.set({ guacd }, g.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'airlock_guacd_info',
      help: "The protocol version each guacd offers in its handshake (VERSION_1_3_0 is guacd 1.3, with known CVEs; VERSION_1_5_0 is 1.5 and later); always 1.",
      labelNames: ['guacd', 'version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [guacd, g] of Object.entries(sources()?.guacds() ?? {})) if (g.version !== null) this.set({ guacd, version: g.version }, 1);
      },
    });
    const redisUp = new Gauge({ name: 'airlock_redis_up', help: '1 when Redis answered a PING at scrape time within 1 s.', registers: [this.registry] });
    new Gauge({
      name: 'airlock_redis_ping_seconds',
      help: 'Round trip of a PING to Redis at scrape time (absent when it did not answer).',
      registers: [this.registry],
      async collect() {
        this.reset();
        const source = sources();
        if (source === undefined) return;
        const seconds = await source.redisPing();
        redisUp.set(seconds === undefined ? 0 : 1);
        if (seconds !== undefined) this.set(seconds);
      },
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
