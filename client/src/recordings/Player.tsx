// The player (`#/recording/<sessionId>`, also `#/recordings?session=<id>` from chat): replays a
// finalised session while it downloads, with play/pause, a seek bar marked with idle spans and
// the timeline's events, speeds 1×–16×, skip-idle, keyboard shortcuts and full screen, the
// session's timeline and a search over it, the request context from the signed manifest, the
// verification result, and downloads (files and the request's evidence bundle).
import { useEffect, useMemo, useRef, useState, useSyncExternalStore, type FormEvent, type RefObject } from 'react';
import {
  bundleUrl,
  errorMessage,
  getRecording,
  getSeekIndex,
  getTimeline,
  recordingFileUrl,
  type RecordingDetails,
  type RecordingFileKind,
  type RecordingVerification,
  type TimelineEntry,
} from '../api.ts';
import { ErrorMessage, Time, WindowTime } from '../shared/components.tsx';
import { useNames } from '../shared/directory.ts';
import { useFullscreen, type Fullscreen } from '../session/fullscreen.ts';
import { href } from '../shared/route.ts';
import { endReasonLabel } from './RecordingList.tsx';
import { formatBytes, formatClock, formatDuration } from './format.ts';
import { SPEEDS, type PlaybackState, type Speed } from './engine.ts';
import { Playback } from './playback.ts';
import { fetchRecordingHead, SeekablePlayback } from './seekable.ts';
import { recordingStart } from '../../../recordings/clock.ts';
import { ExportVideo } from './ExportVideo.tsx';

/** Keyframes (seek anywhere at once) when the renderer worker built them; else the replay from the start. */
export type AnyPlayback = Playback | SeekablePlayback;

declare global {
  interface Window {
    /** The player, for the end-to-end test and the benchmark (first-frame and seek timings). */
    __airlockPlayer?: { playback: AnyPlayback; sessionId: string; firstFrameAt: number | null; seekTimes: number[] };
  }
}

const FILE_LABELS: Record<RecordingFileKind, string> = {
  recording: 'Screen recording (Guacamole)',
  typescript: 'Terminal typescript',
  typescriptTiming: 'Typescript timing',
  events: 'Input-event log',
  transfers: 'Files through the airlock (record)',
};

type Details = { status: 'loading' } | { status: 'ready'; recording: RecordingDetails; timeline: TimelineEntry[]; recordingStart: number | null } | { status: 'error'; message: string };

export type PlayerStatus = 'loading' | 'ready' | 'error';

const IDLE: PlaybackState = { position: 0, duration: 0, playable: 0, loaded: false, playing: false, firstFrame: false, error: null, received: 0, total: null, speed: 1, skipIdle: false };

export function Player({ sessionId }: { sessionId: string }) {
  const [details, setDetails] = useState<Details>({ status: 'loading' });
  const [playback, setPlayback] = useState<AnyPlayback | null>(null);

  useEffect(() => {
    let cancelled = false;
    Promise.all([getRecording(sessionId), getTimeline(sessionId)]).then(
      ([recording, { timeline, recordingStart }]) => {
        if (!cancelled) setDetails({ status: 'ready', recording, timeline, recordingStart });
      },
      (err: unknown) => {
        if (!cancelled) setDetails({ status: 'error', message: errorMessage(err, 'This recording could not be loaded.') });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [sessionId]);

  // The file starts downloading at once, beside the details, so the first frame comes sooner.
  // Deferred by a tick so StrictMode's development double mount starts one playback, not two.
  // With keyframes (one small request first), seeks import the nearest keyframe and replay a few
  // MB; without (not built yet, or failing their check), the old replay, and the reason shown.
  const [fallback, setFallback] = useState<string | null>(null);
  useEffect(() => {
    let p: AnyPlayback | null = null;
    let cancelled = false;
    const timer = setTimeout(async () => {
      const url = recordingFileUrl(sessionId, 'recording');
      // The file's start is asked for beside the index, so the first frame does not wait for it.
      const head = fetchRecordingHead(url);
      try {
        const index = await getSeekIndex(sessionId);
        if (cancelled) {
          head.abort.abort();
          return;
        }
        p = new SeekablePlayback(sessionId, url, index, { autoplay: true, head });
        setFallback(null);
      } catch (err) {
        head.abort.abort();
        if (cancelled) return;
        p = new Playback(url, { autoplay: true });
        setFallback(errorMessage(err, 'Seeking replays from the start: the keyframes could not be loaded.'));
      }
      const hook = { playback: p, sessionId, firstFrameAt: null as number | null, seekTimes: [] as number[] };
      p.onFirstFrame = () => {
        hook.firstFrameAt = performance.now();
      };
      p.onSeeked = (ms) => hook.seekTimes.push(ms);
      window.__airlockPlayer = hook;
      setPlayback(p);
    }, 0);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      p?.dispose();
      delete window.__airlockPlayer;
    };
  }, [sessionId]);

  // A refused or missing recording: stop the download (it fails too, the server refuses it).
  useEffect(() => {
    if (details.status === 'error') playback?.dispose();
  }, [details.status, playback]);

  const state = usePlaybackState(playback);
  const stageRef = useRef<HTMLDivElement | null>(null);
  const fullscreen = useFullscreen(stageRef);
  const offset = useTimelineOffset(playback, details.status === 'ready' ? details : null, state.firstFrame);
  const marks = useMemo(
    () => (details.status === 'ready' ? details.timeline.map((e) => ({ at: Math.max(0, e.t - offset), kind: e.kind, label: e.label })) : []),
    [details, offset],
  );
  useShortcuts(playback, state, fullscreen, stageRef);
  const status: PlayerStatus =
    details.status === 'error' || (state.error !== null && details.status === 'ready') ? 'error' : details.status === 'ready' && state.firstFrame ? 'ready' : 'loading';

  return (
    <section className="card wide player-page" data-testid="player">
      <div className="heading">
        <h1>{details.status === 'ready' ? `Recording: ${details.recording.machine.name}` : 'Recording'}</h1>
        <a href={href('recordings')}>Back to recordings</a>
      </div>
      <p className={`player-status status-${status}`} data-testid="player-status" data-status={status} role="status">
        {status === 'loading' ? 'Loading the recording…' : status === 'ready' ? 'Ready' : 'Not available'}
      </p>
      {details.status === 'error' && <ErrorMessage message={details.message} testId="player-error" />}
      {details.status === 'ready' && state.error !== null && <ErrorMessage message={`The recording could not be played: ${state.error}`} testId="player-error" />}
      {details.status !== 'error' && (
        <div className="player-layout">
          <div className="player-main">
            <div className="player-stage" ref={stageRef}>
              <Screen playback={playback} />
              {playback !== null && (
                <Controls playback={playback} state={state} marks={details.status === 'ready' ? marks : []} fullscreen={fullscreen} />
              )}
            </div>
            {/* Below the stage, so the screen does not move when it shows. */}
            {fallback !== null && details.status === 'ready' && (
              <p className="muted player-fallback" data-testid="player-seek-fallback">
                {fallback}
              </p>
            )}
            {details.status === 'ready' && <ExportVideo sessionId={sessionId} playback={playback} />}
            {details.status === 'ready' && playback !== null && <Timeline playback={playback} timeline={details.timeline} offset={offset} />}
          </div>
          {details.status === 'ready' && <Context recording={details.recording} />}
        </div>
      )}
    </section>
  );
}

function usePlaybackState(playback: AnyPlayback | null): PlaybackState {
  const cache = useRef<{ p: AnyPlayback | null; key: string; value: PlaybackState }>({ p: null, key: '', value: IDLE });
  return useSyncExternalStore(
    (onChange) => (playback === null ? () => {} : playback.subscribe(onChange)),
    () => {
      if (playback === null) return IDLE;
      const next = playback.state();
      const key = JSON.stringify(next);
      if (cache.current.p !== playback || cache.current.key !== key) cache.current = { p: playback, key, value: next };
      return cache.current.value;
    },
  );
}

/** The recording's display, scaled to fit its box (never enlarged). */
function Screen({ playback }: { playback: AnyPlayback | null }) {
  const host = useRef<HTMLDivElement | null>(null);
  useEffect(() => {
    const el = host.current;
    if (el === null || playback === null) return;
    const display = playback.display;
    const displayEl = display.getElement();
    el.appendChild(displayEl);
    const fit = () => {
      const w = display.getWidth();
      const h = display.getHeight();
      if (w <= 0 || h <= 0 || el.clientWidth <= 0 || el.clientHeight <= 0) return;
      display.scale(Math.min(el.clientWidth / w, el.clientHeight / h, 1));
    };
    display.onresize = fit;
    const observer = new ResizeObserver(fit);
    observer.observe(el);
    fit();
    return () => {
      observer.disconnect();
      display.onresize = null;
      displayEl.remove();
    };
  }, [playback]);
  return <div ref={host} className="player-display" role="img" aria-label="Recorded screen" data-testid="player-display" />;
}

interface Mark {
  at: number;
  kind: TimelineEntry['kind'];
  label: string;
}

/** The seek slider's resolution. */
const SEEK_SLIDER_STEP_MS = 100;
/** Seek steps of the arrow keys: 5 s, or 30 s with Shift. */
const SEEK_STEP_MS = 5_000;
const SEEK_BIG_STEP_MS = 30_000;

function Controls({ playback, state, marks, fullscreen }: { playback: AnyPlayback; state: PlaybackState; marks: readonly Mark[]; fullscreen: Fullscreen }) {
  const { speed, skipIdle } = state;
  const max = state.loaded ? state.duration : state.playable;
  return (
    <div className="player-controls">
      <button
        type="button"
        onClick={() => (state.playing ? playback.pause() : playback.play())}
        disabled={!state.firstFrame}
        data-testid="player-play"
        data-playing={state.playing ? 'true' : 'false'}
        aria-label={state.playing ? 'Pause' : 'Play'}
        aria-keyshortcuts="Space"
      >
        {state.playing ? 'Pause' : 'Play'}
      </button>
      <span className="player-time" data-testid="player-time" data-ms={Math.round(state.position)}>
        {formatClock(state.position)}
      </span>
      <SeekBar playback={playback} state={state} max={max} marks={marks} />
      <span className="player-duration" data-testid="player-duration" data-ms={Math.round(state.duration)} data-loaded={state.loaded ? 'true' : 'false'}>
        {formatClock(state.duration)}
        {!state.loaded && '…'}
      </span>
      <label className="player-speed">
        Speed
        <select value={speed} onChange={(e) => playback.setSpeed(Number(e.target.value) as Speed)} data-testid="player-speed" aria-keyshortcuts="Shift+Period Shift+Comma">
          {SPEEDS.map((s) => (
            <option key={s} value={s}>
              {s}×
            </option>
          ))}
        </select>
      </label>
      <label className="check">
        <input type="checkbox" checked={skipIdle} onChange={(e) => playback.setSkipIdle(e.target.checked)} data-testid="player-skip-idle" aria-keyshortcuts="I" />
        Skip idle
      </label>
      {fullscreen.supported && (
        <button type="button" className="secondary" onClick={fullscreen.toggle} aria-pressed={fullscreen.active} data-testid="player-fullscreen" aria-keyshortcuts="F">
          {fullscreen.active ? 'Exit full screen' : 'Full screen'}
        </button>
      )}
      {!state.loaded && (
        <span className="muted" data-testid="player-download">
          downloading {formatBytes(state.received)}
          {state.total !== null && ` of ${formatBytes(state.total)}`}
        </span>
      )}
      <p className="muted player-keys" data-testid="player-shortcuts">
        <kbd>Space</kbd> play/pause · <kbd>←</kbd> <kbd>→</kbd> 5 s (with <kbd>Shift</kbd> 30 s) · <kbd>Home</kbd> <kbd>End</kbd> · <kbd>&lt;</kbd> <kbd>&gt;</kbd> speed · <kbd>I</kbd> skip idle ·{' '}
        <kbd>F</kbd> full screen
      </p>
    </div>
  );
}

/** The seek slider over a strip that marks idle spans (hatched) and the timeline's events (ticks). */
function SeekBar({ playback, state, max, marks }: { playback: AnyPlayback; state: PlaybackState; max: number; marks: readonly Mark[] }) {
  // Recomputed as the recording loads (the duration grows with every frame).
  const idle = useMemo(() => playback.idleGaps(), [playback, state.duration, state.loaded]);
  const span = Math.max(1, state.duration);
  const pct = (ms: number) => `${Math.min(100, Math.max(0, (ms / span) * 100))}%`;
  const [hover, setHover] = useState<{ x: number; t: number } | null>(null);
  return (
    <div className="player-seekbar">
      {hover !== null && playback instanceof SeekablePlayback && (
        <div className="player-thumb" style={{ left: `${hover.x}px` }} data-testid="player-thumb" data-t={Math.round(hover.t)}>
          <img src={playback.thumbnailUrl(hover.t)} alt={`Screen near ${formatClock(hover.t)}`} />
          <span>{formatClock(hover.t)}</span>
        </div>
      )}
      <div className="player-marks" aria-hidden="true" data-testid="player-marks">
        {idle.map((g) => (
          <span
            key={`idle-${g.from}`}
            className="mark-idle"
            style={{ left: pct(g.from), width: `calc(${pct(g.to)} - ${pct(g.from)})` }}
            title={`Idle ${formatDuration(g.to - g.from)}`}
            data-testid="player-idle-mark"
            data-from={Math.round(g.from)}
            data-to={Math.round(g.to)}
          />
        ))}
        {marks.map((m, i) => (
          <span key={`ev-${i}`} className={`mark-event mark-${m.kind}`} style={{ left: pct(m.at) }} title={`${formatClock(m.at)} ${m.label}`} data-testid="player-event-mark" />
        ))}
      </div>
      {playback instanceof SeekablePlayback && <ActivityStrip playback={playback} pct={pct} />}
      <input
        onMouseMove={(e) => {
          const box = e.currentTarget.getBoundingClientRect();
          setHover({ x: e.clientX - box.left, t: Math.max(0, Math.min(1, (e.clientX - box.left) / Math.max(1, box.width))) * state.duration });
        }}
        onMouseLeave={() => setHover(null)}
        type="range"
        className="player-seek"
        min={0}
        max={Math.max(0, Math.round(max))}
        step={SEEK_SLIDER_STEP_MS}
        value={Math.min(Math.round(state.position), Math.round(max))}
        // The slider snaps to its step, so its top is up to a step short of the end: the top is the end.
        onChange={(e) => {
          const v = Number(e.target.value);
          playback.seek(v > max - SEEK_SLIDER_STEP_MS ? max : v);
        }}
        disabled={!state.firstFrame}
        aria-label="Position"
        aria-valuetext={`${formatClock(state.position)} of ${formatClock(state.duration)}`}
        data-testid="player-seek"
      />
    </div>
  );
}

/** Labels of the activity strip's event kinds (the timeline's own events are marked above it). */
const ACTIVITY_EVENT_LABELS: Record<SeekablePlayback['index']['activity']['events'][number]['kind'], string> = {
  command: 'Command',
  clipboard: 'Clipboard',
  file: 'File',
  blocked: 'Blocked',
  end: 'End',
};

/**
 * The activity strip under the seek bar, from the renderer worker: what the machine drew (up) and
 * what the vendor typed or clicked (down) per time bucket, and its events (commands, clipboard,
 * files, blocked input, the end). Observers, warnings and kills are the timeline's marks above.
 */
function ActivityStrip({ playback, pct }: { playback: SeekablePlayback; pct: (ms: number) => string }) {
  const { activity } = playback.index;
  const maxOut = Math.max(1, ...activity.output);
  const maxIn = Math.max(1, ...activity.input);
  const width = `${100 / Math.max(1, activity.output.length)}%`;
  return (
    <div className="player-activity" aria-hidden="true" data-testid="player-activity" data-buckets={activity.output.length}>
      {activity.output.map((v, i) => (
        <span key={`o${i}`} className="activity-out" style={{ left: pct(i * activity.bucketMs), width, height: `${(50 * v) / maxOut}%` }} data-testid={v > 0 ? 'activity-output' : undefined} />
      ))}
      {activity.input.map((v, i) => (
        <span key={`i${i}`} className="activity-in" style={{ left: pct(i * activity.bucketMs), width, height: `${(50 * v) / maxIn}%` }} data-testid={v > 0 ? 'activity-input' : undefined} />
      ))}
      {activity.events.map((e, i) => (
        <span key={`e${i}`} className={`activity-event activity-${e.kind}`} style={{ left: pct(e.t) }} title={`${formatClock(e.t)} ${ACTIVITY_EVENT_LABELS[e.kind]}: ${e.label}`} data-testid="activity-event" data-kind={e.kind} />
      ))}
    </div>
  );
}

/** Whether a key press belongs to the control that has the focus (typing, choosing, pressing). */
function keyBelongsToTarget(e: KeyboardEvent): boolean {
  const t = e.target;
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return true;
  if (t instanceof HTMLInputElement) return t.type !== 'range' && t.type !== 'checkbox';
  // Space and Enter press a focused button or follow a link; other keys are ours.
  return (t instanceof HTMLButtonElement || t instanceof HTMLAnchorElement) && (e.key === ' ' || e.key === 'Enter');
}

/**
 * Player shortcuts, as in video players: Space/K play and pause, ←/→ 5 s (Shift: 30 s), Home/End,
 * < and > change the speed, I toggles skip idle, F full screen. Not while typing in a field.
 */
function useShortcuts(playback: AnyPlayback | null, state: PlaybackState, fullscreen: Fullscreen, stage: RefObject<HTMLDivElement | null>): void {
  const live = useRef({ playback, state, fullscreen });
  useEffect(() => {
    live.current = { playback, state, fullscreen };
  });
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const { playback: p, state: st, fullscreen: fs } = live.current;
      if (p === null || !st.firstFrame || e.ctrlKey || e.metaKey || e.altKey || e.defaultPrevented || keyBelongsToTarget(e)) return;
      // Inside a dialog (a confirmation) keys are the dialog's.
      if (e.target instanceof Element && e.target.closest('dialog') !== null) return;
      const end = st.loaded ? st.duration : st.playable;
      const step = e.shiftKey ? SEEK_BIG_STEP_MS : SEEK_STEP_MS;
      const speedIndex = SPEEDS.indexOf(p.getSpeed());
      switch (e.key) {
        case ' ':
        case 'k':
          if (st.playing) p.pause();
          else p.play();
          break;
        case 'ArrowLeft':
          p.seek(Math.max(0, st.position - step));
          break;
        case 'ArrowRight':
          p.seek(Math.min(end, st.position + step));
          break;
        case 'Home':
          p.seek(0);
          break;
        case 'End':
          p.seek(end);
          break;
        case '>':
        case '.':
          p.setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, speedIndex + 1)] ?? p.getSpeed());
          break;
        case '<':
        case ',':
          p.setSpeed(SPEEDS[Math.max(0, speedIndex - 1)] ?? p.getSpeed());
          break;
        case 'i':
        case 'I':
          p.setSkipIdle(!p.getSkipIdle());
          break;
        case 'f':
        case 'F':
          fs.toggle();
          break;
        default:
          return;
      }
      e.preventDefault();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [stage]);
}

/**
 * Timeline times are ms from the session start (the portal's clock); the recording's are ms
 * from its first frame (guacd's `sync`, epoch ms). The difference is guacd's connect delay.
 */
/** Where the recording's first frame sits on the timeline's clock (recordings/clock.ts). */
function useTimelineOffset(playback: AnyPlayback | null, details: { recording: RecordingDetails; recordingStart: number | null } | null, firstFrame: boolean): number {
  return useMemo(() => {
    if (playback === null || details === null) return 0;
    // The portal's recorder linked guacd's clock to the session's; an older recording may have
    // an epoch-like first sync (the same rule as the server's).
    return details.recordingStart ?? recordingStart('', details.recording.startedAt, playback.firstSync ?? undefined) ?? 0;
    // firstFrame: the first sync is known by then.
  }, [playback, details, firstFrame]);
}

function Timeline({ playback, timeline, offset }: { playback: AnyPlayback; timeline: TimelineEntry[]; offset: number }) {
  const state = usePlaybackState(playback);
  const [find, setFind] = useState('');
  const [hit, setHit] = useState(0);
  const at = (e: TimelineEntry) => Math.max(0, e.t - offset);
  const needle = find.trim().toLowerCase();
  const hits = needle === '' ? [] : timeline.map((e, i) => ({ e, i })).filter(({ e }) => (e.detail ?? e.label).toLowerCase().includes(needle));
  let current = -1;
  timeline.forEach((e, i) => {
    if (at(e) <= state.position) current = i;
  });

  function findNext(e: FormEvent) {
    e.preventDefault();
    if (hits.length === 0) return;
    const h = hits[hit % hits.length];
    if (h !== undefined) playback.seek(at(h.e));
    setHit((n) => n + 1);
  }

  return (
    <div className="player-timeline-box">
      <form className="player-find" onSubmit={findNext}>
        <input
          type="search"
          value={find}
          placeholder="Find in commands and events"
          aria-label="Find in the timeline"
          onChange={(e) => {
            setFind(e.target.value);
            setHit(0);
          }}
          data-testid="player-find"
        />
        <button type="submit" className="secondary" disabled={hits.length === 0} data-testid="player-find-next">
          Next hit
        </button>
        {needle !== '' && (
          <span className="muted" data-testid="player-find-count">
            {hits.length} hit{hits.length === 1 ? '' : 's'}
          </span>
        )}
      </form>
      {hits.length > 0 && (
        <ul className="player-hits" data-testid="player-hits">
          {hits.map(({ e, i }) => (
            <li key={i}>
              <button type="button" className="link" onClick={() => playback.seek(at(e))} data-testid={`find-hit-${i}`}>
                {formatClock(at(e))} {e.label}
              </button>
            </li>
          ))}
        </ul>
      )}
      <h2>Timeline</h2>
      {timeline.length === 0 ? (
        <p className="muted">No events recorded for this session.</p>
      ) : (
        <ol className="player-timeline" data-testid="player-timeline">
          {timeline.map((e, i) => (
            <li key={i} className={`timeline-${e.kind}${i === current ? ' current' : ''}`}>
              <button type="button" className="link" onClick={() => playback.seek(at(e))} data-testid={`timeline-${i}`} data-kind={e.kind} data-t={at(e)}>
                <span className="timeline-time">{formatClock(at(e))}</span> <span className="timeline-kind">{e.kind}</span> {e.label}
              </button>
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function Context({ recording }: { recording: RecordingDetails }) {
  const m = recording.manifest;
  const names = useNames();
  const reason = endReasonLabel(recording.endReason);
  return (
    <aside className="player-context" data-testid="player-context">
      <Verification v={recording.verification} />
      <h2>Request</h2>
      <dl>
        <dt>Requester</dt>
        <dd data-testid="context-requester">
          {m.requester.name}
          {m.requester.company !== null && <span className="muted"> · {names.company(m.requester.company)}</span>}
        </dd>
        <dt>Reason</dt>
        <dd data-testid="context-reason">{m.reason || '—'}</dd>
        {m.workOrder !== null && (
          <>
            <dt>Work order</dt>
            <dd data-testid="context-work-order">{m.workOrder}</dd>
          </>
        )}
        <dt>Approved by</dt>
        <dd data-testid="context-approvers">
          {m.approvers.length === 0 ? (
            '—'
          ) : (
            <ul className="plain">
              {m.approvers.map((a) => (
                <li key={a.id}>
                  {a.name} <span className="muted">at</span> <Time iso={a.at} site={m.siteId} />
                </li>
              ))}
            </ul>
          )}
        </dd>
        <dt>Access window</dt>
        <dd data-testid="context-window">{m.grant.start !== '' && m.grant.end !== '' ? <WindowTime start={m.grant.start} end={m.grant.end} site={m.siteId} /> : '—'}</dd>
        <dt>Machine</dt>
        <dd data-testid="context-machine">
          {m.machine.name} <span className="muted">({m.machine.protocol.toUpperCase()})</span>
        </dd>
        <dt>Site</dt>
        <dd data-testid="context-site">{names.site(m.siteId)}</dd>
        <dt>Session</dt>
        <dd>
          <Time iso={m.startedAt} precise site={m.siteId} /> · {formatDuration(Date.parse(m.endedAt) - Date.parse(m.startedAt))}
        </dd>
        <dt>Ended</dt>
        <dd data-testid="context-end-reason">{reason}</dd>
        {recording.incomplete.length > 0 && (
          <>
            <dt>Incomplete</dt>
            <dd>
              <span className="badge broken" data-testid="context-incomplete">
                {recording.incomplete.join(', ')}
              </span>
            </dd>
          </>
        )}
      </dl>
      <h2>Downloads</h2>
      <ul className="plain player-downloads">
        {recording.files.map((f) =>
          // The bytes of files through the airlock come with the evidence bundle, not one by one.
          f.kind === 'transfer' ? null : (
            <li key={f.kind}>
              <a href={recordingFileUrl(recording.sessionId, f.kind, true)} download data-testid={`download-${f.kind}`}>
                {FILE_LABELS[f.kind] ?? f.kind}
              </a>{' '}
              <span className="muted">{formatBytes(f.bytes)}</span>
            </li>
          ),
        )}
        <li>
          <a href={bundleUrl(recording.requestId)} download data-testid="bundle-download">
            Evidence bundle for the request
          </a>
        </li>
      </ul>
    </aside>
  );
}

/** What failed verification, one line each (files by name). */
export function verificationProblems(v: RecordingVerification): string[] {
  const out: string[] = [];
  if (v.manifest !== 'ok') out.push(`manifest.json: ${v.manifest}`);
  if (v.signature !== 'valid') out.push(`manifest.sig: signature ${v.signature}`);
  for (const f of v.files) if (!f.ok) out.push(`${f.name}: ${f.problem === 'missing' ? 'missing' : 'altered (hash mismatch)'}`);
  for (const u of v.unexpected) out.push(`${u}: not in the manifest`);
  // Bound to its place, the index and the audit log: a swapped or moved recording says which.
  for (const m of v.mismatches ?? []) out.push(m);
  return out;
}

function Verification({ v }: { v: RecordingVerification }) {
  const problems = verificationProblems(v);
  const ok = v.ok && problems.length === 0;
  return (
    <div className="player-verification">
      <span className={`badge ${ok ? 'ok' : 'broken'}`} data-testid="verification-badge" data-status={ok ? 'verified' : 'failed'}>
        {ok ? 'Verified' : 'Verification failed'}
      </span>
      {ok ? (
        <p className="muted">Every file matches the signed manifest.</p>
      ) : (
        <ul className="plain error" data-testid="verification-problems">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
