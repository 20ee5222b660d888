// Watching a live session: the same display as the vendor's, joined read-only. Nothing of the
// watcher's keyboard, mouse or clipboard is sent, unless a plant observer takes the controls
// (then their keys and pointer go to the machine, the vendor's are held); every viewing is audited.
import { useCallback, useEffect, useState } from 'react';
import { useDeferredStart } from '../shared/deferred.ts';
import { useNames } from '../shared/directory.ts';
import { useLiveRefresh } from '../shared/live.ts';
import { errorMessage, listSessions, observeSession, watchSession, type LiveSession, type TunnelTicket } from '../api.ts';
import { Notice, Time } from '../shared/components.tsx';
import { href } from '../shared/route.ts';
import { SessionDisplay, SessionStatusLine } from '../session/SessionView.tsx';
import { localEnd } from '../session/ending.ts';
import { useGuacamole } from '../session/useGuacamole.ts';
import { LIVE_SESSIONS_REFRESH_MS } from './LiveSessions.tsx';
import { TERMINATE_LABELS, TerminateForm } from './TerminateForm.tsx';

const READ_ONLY = { input: false, clipboardCopy: false, clipboardPaste: false } as const;
const SESSION_GONE_MESSAGE = 'The session has ended.';

type Joining = { status: 'joining' } | { status: 'joined'; ticket: TunnelTicket } | { status: 'failed'; message: string };

export function WatchScreen({ sessionId, meId }: { sessionId: string; meId?: string }) {
  const names = useNames();
  const [joining, setJoining] = useState<Joining>({ status: 'joining' });
  const [info, setInfo] = useState<LiveSession | null>(null);
  const [terminating, setTerminating] = useState<{ revoke: boolean } | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);

  // One watch ticket per screen (see useDeferredStart).
  useDeferredStart(
    (live) => {
      watchSession(sessionId).then(
        live((ticket) => setJoining({ status: 'joined', ticket })),
        live((err: unknown) => setJoining({ status: 'failed', message: errorMessage(err, 'This session cannot be watched.') })),
      );
      // Who and what is being watched; the view works without it.
      listSessions().then(
        live((sessions) => setInfo(sessions.find((s) => s.id === sessionId) ?? null)),
        () => {},
      );
    },
    [sessionId],
  );

  // Who else watches changes while one watches: follow the event stream.
  const refreshInfo = useCallback(() => {
    listSessions().then(
      (sessions) => {
        const found = sessions.find((s) => s.id === sessionId);
        if (found !== undefined) setInfo(found);
      },
      () => {},
    );
  }, [sessionId]);
  useLiveRefresh(refreshInfo);

  const inControl = info?.observer?.state === 'controlled' && info.observer.controller?.id === meId;
  const view = useGuacamole(joining.status === 'joined' ? joining.ticket : null, { ...READ_ONLY, input: inControl, controllable: true });
  // A joined view is not always closed when the watched session ends: check the live list too.
  const { endLocally } = view;
  const watching = view.status === 'connected';
  useEffect(() => {
    if (!watching) return;
    const t = setInterval(() => {
      listSessions().then(
        (sessions) => {
          if (!sessions.some((s) => s.id === sessionId)) endLocally(localEnd('error', SESSION_GONE_MESSAGE));
        },
        () => {}, // a failed check proves nothing; the next one may succeed
      );
    }, LIVE_SESSIONS_REFRESH_MS);
    return () => clearInterval(t);
  }, [watching, sessionId, endLocally]);

  const status = joining.status === 'joining' ? 'connecting' : joining.status === 'failed' ? 'error' : view.status;
  const message = joining.status === 'failed' ? joining.message : view.message;
  const over = status === 'ended' || status === 'error';

  return (
    <section className="card wide session" data-testid="watch-screen">
      <div className="heading">
        <h1>
          {info === null ? 'Live session' : info.machine.name}
          {info !== null && <span className="protocol"> {info.machine.protocol.toUpperCase()}</span>}
        </h1>
        <div className="session-bar">
          <span className="badge watching" data-testid="watch-badge">
            Watching (read-only)
          </span>
          {!over && terminating === null && (
            <>
              <button type="button" className="danger" onClick={() => setTerminating({ revoke: false })} title={TERMINATE_LABELS.terminate.title} data-testid={`terminate-${sessionId}`}>
                {TERMINATE_LABELS.terminate.button}
              </button>
              <button type="button" className="danger" onClick={() => setTerminating({ revoke: true })} title={TERMINATE_LABELS.revoke.title} data-testid={`terminate-revoke-${sessionId}`}>
                {TERMINATE_LABELS.revoke.button}
              </button>
            </>
          )}
        </div>
      </div>
      {info !== null && (
        <p className="muted" data-testid="watch-info">
          {info.user.name}
          {info.user.company !== null && ` (${names.company(info.user.company)})`} · {names.site(info.machine.siteId)} · started <Time iso={info.startedAt} site={info.machine.siteId} /> · ends{' '}
          <Time iso={info.endsAt} site={info.machine.siteId} />
          {info.watchers.length > 0 && <span data-testid="watch-watchers"> · watching: {info.watchers.map((w) => w.name).join(', ')}</span>}
        </p>
      )}
      {terminating !== null && (
        <TerminateForm
          session={{ id: sessionId, userName: info?.user.name ?? 'the user', machineName: info?.machine.name ?? 'the machine', endsAt: info?.endsAt, siteId: info?.machine.siteId }}
          revoke={terminating.revoke}
          onDone={(n) => {
            setNotice(n);
            setTerminating(null);
          }}
          onKeep={() => setTerminating(null)}
        />
      )}
      {notice !== null && <Notice testId="watch-notice">{notice.text}</Notice>}
      {!over && info?.observer != null && <ObserverControls sessionId={sessionId} observer={info.observer} inControl={inControl} onDone={(n) => setNotice(n)} onChanged={refreshInfo} />}
      <SessionStatusLine status={status} message={message} machineName={info?.machine.name ?? null} />
      {over && (
        <p className="actions">
          <a className="button secondary" href={href('live')}>
            Back to live sessions
          </a>
        </p>
      )}
      {joining.status !== 'failed' && (
        <>
          <p className="muted session-hint" data-testid="watch-hint">
            {inControl ? 'You have the controls: what you type and click goes to the machine; the vendor’s input is held.' : 'You see what the user sees. Nothing you type or click is sent to the machine.'}
          </p>
          <SessionDisplay view={view} label={info === null ? 'Watched session' : `Screen of ${info.machine.name}, watched`} readOnly />
        </>
      )}
    </section>
  );
}

const OBSERVER_WORDS: Record<string, string> = {
  off: 'The vendor’s input reaches the machine.',
  grace: 'A plant observer is required; the vendor may type during the grace.',
  waiting: 'Waiting for a plant observer: the vendor’s input is held.',
  unconfirmed: 'Airlock cannot confirm the observer right now: the vendor’s input is held.',
  observed: 'You are observing: the vendor’s input reaches the machine.',
  paused: 'The vendor’s input is paused.',
  controlled: 'An observer has the controls: the vendor’s input is held.',
};

/** Required observer, for the observer: the gate's state and its buttons (pause/resume, take/return the controls). */
function ObserverControls({
  sessionId,
  observer,
  inControl,
  onDone,
  onChanged,
}: {
  sessionId: string;
  observer: NonNullable<LiveSession['observer']>;
  inControl: boolean;
  onDone: (n: { ok: boolean; text: string }) => void;
  onChanged: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const act = (action: 'pause' | 'resume' | 'take' | 'return') => {
    setBusy(true);
    observeSession(sessionId, action).then(
      () => {
        setBusy(false);
        onChanged();
      },
      (err: unknown) => {
        setBusy(false);
        onDone({ ok: false, text: errorMessage(err, 'That did not work.') });
      },
    );
  };
  const paused = observer.pausedBy !== null;
  const controlled = observer.controller !== null;
  return (
    <div className="session-bar observer-controls" data-testid="observer-controls" data-state={observer.state}>
      <span className="badge watching" role="status" data-testid="observer-state" data-state={observer.state}>
        {observer.state === 'controlled' && observer.controller !== null && !inControl ? `${observer.controller.name} has the controls.` : (OBSERVER_WORDS[observer.state] ?? observer.state)}
      </span>
      {paused ? (
        <button type="button" disabled={busy} onClick={() => act('resume')} data-testid="observer-resume">
          Resume vendor input
        </button>
      ) : (
        <button type="button" className="secondary" disabled={busy || controlled} onClick={() => act('pause')} data-testid="observer-pause">
          Pause vendor input
        </button>
      )}
      {controlled ? (
        <button type="button" disabled={busy} onClick={() => act('return')} data-testid="observer-return">
          Return the controls
        </button>
      ) : (
        <button type="button" className="secondary" disabled={busy} onClick={() => act('take')} data-testid="observer-take">
          Take the controls
        </button>
      )}
    </div>
  );
}
