// "Live sessions": the remote sessions running now on the caller's sites (all sites for
// auditors and admins): the vendor and their company, how long each has run and has left, who
// is watching, with Watch and Terminate (confirmed) for approvers and admins. No portal
// instance ids: they mean nothing to a manager.
import { useEffect } from 'react';
import { listSessions, type LiveSession } from '../api.ts';
import { useNames } from '../shared/directory.ts';
import { LiveHeading, OutcomeNotice, Time } from '../shared/components.tsx';
import { listOf, ListView, useRowAction } from '../shared/ListView.tsx';
import { useLiveRefresh } from '../shared/live.ts';
import { useLoad } from '../shared/load.ts';
import { useNow } from '../shared/clock.ts';
import { formatDuration } from '../shared/time.ts';
import { itemHref } from '../shared/route.ts';
import { TERMINATE_LABELS, TerminateForm } from './TerminateForm.tsx';

/** Sessions start and end without request events; a short poll keeps the list current. */
export const LIVE_SESSIONS_REFRESH_MS = 5_000;
/** Elapsed and remaining times are shown in minutes. */
const ELAPSED_TICK_MS = 15_000;

export function LiveSessions({ canAct }: { canAct: boolean }) {
  const { state: load, reload } = useLoad(listSessions, 'live-sessions');
  const names = useNames();
  const live = useLiveRefresh(reload); // a revoked grant ends its session
  const terminate = useRowAction<{ id: string; revoke: boolean }>(reload);

  useEffect(() => {
    const t = setInterval(reload, LIVE_SESSIONS_REFRESH_MS);
    return () => clearInterval(t);
  }, [reload]);

  // Elapsed and remaining time move on by the minute.
  const now = useNow(ELAPSED_TICK_MS);

  return (
    <section className="card wide" data-testid="live-sessions">
      <LiveHeading title="Live sessions" live={live} />
      <OutcomeNotice notice={terminate.notice} testId="live-notice" />
      <ListView
        {...listOf(load, (d) => d)}
        columns={['Vendor', 'Machine', 'Site', 'Running for', 'Time left', 'Watching', ...(canAct ? [{ actions: true } as const] : [])]}
        row={(s) => (
          <Row
            key={s.id}
            session={s}
            siteName={names.site(s.machine.siteId)}
            companyName={s.user.company === null ? null : names.company(s.user.company)}
            now={now}
            canAct={canAct}
            terminating={terminate.acting?.id === s.id ? terminate.acting : null}
            onTerminate={(revoke) => terminate.open({ id: s.id, revoke })}
            onKeep={terminate.keep}
            onDone={terminate.done}
          />
        )}
        empty="No sessions are running."
        testIds={{ loadError: 'live-load-error', empty: 'live-empty' }}
      />
    </section>
  );
}

function Row({
  session: s,
  siteName,
  companyName,
  now,
  canAct,
  terminating,
  onTerminate,
  onKeep,
  onDone,
}: {
  session: LiveSession;
  siteName: string;
  companyName: string | null;
  now: number;
  canAct: boolean;
  terminating: { revoke: boolean } | null;
  onTerminate: (revoke: boolean) => void;
  onKeep: () => void;
  onDone: (n: { ok: boolean; text: string }) => void;
}) {
  return (
    <tr data-testid={`live-row-${s.id}`}>
      <td>
        {s.user.name}
        {companyName !== null && <div className="muted">{companyName}</div>}
      </td>
      <td>
        <strong>{s.machine.name}</strong>
        <div className="muted protocol">{s.machine.protocol.toUpperCase()}</div>
      </td>
      <td>{siteName}</td>
      <td data-testid={`live-elapsed-${s.id}`}>
        {formatDuration(Math.max(0, now - Date.parse(s.startedAt)) / 60_000)}
        <div className="muted">
          since <Time iso={s.startedAt} site={s.machine.siteId} compact />
        </div>
      </td>
      <td data-testid={`live-remaining-${s.id}`}>
        {formatDuration(Math.max(0, Date.parse(s.endsAt) - now) / 60_000)}
        <div className="muted">
          until <Time iso={s.endsAt} site={s.machine.siteId} compact />
        </div>
      </td>
      <td data-testid={`live-watchers-${s.id}`}>
        {s.watchers.length === 0 ? <span className="muted">nobody</span> : s.watchers.map((w) => w.name).join(', ')}
        {s.observer !== null && s.observer.required && <ObserverBadge sessionId={s.id} observer={s.observer} />}
      </td>
      {canAct && (
        <td className="actions-cell">
          <div className="actions-stack">
            <a className={s.observer?.state === 'waiting' || s.observer?.state === 'unconfirmed' ? 'button' : 'button secondary'} href={itemHref('watch', s.id)} data-testid={`watch-${s.id}`}>
              {s.observer?.state === 'waiting' ? 'Watch (needs observer)' : 'Watch'}
            </a>
            <button type="button" className="danger" onClick={() => onTerminate(false)} title={TERMINATE_LABELS.terminate.title} data-testid={`terminate-${s.id}`}>
              {TERMINATE_LABELS.terminate.button}
            </button>
            <button type="button" className="danger" onClick={() => onTerminate(true)} title={TERMINATE_LABELS.revoke.title} data-testid={`terminate-revoke-${s.id}`}>
              {TERMINATE_LABELS.revoke.button}
            </button>
            {terminating !== null && (
              <TerminateForm
                session={{ id: s.id, userName: s.user.name, machineName: s.machine.name, endsAt: s.endsAt, siteId: s.machine.siteId }}
                revoke={terminating.revoke}
                onDone={onDone}
                onKeep={onKeep}
              />
            )}
          </div>
        </td>
      )}
    </tr>
  );
}

/** Required observer: whether the session waits for a plant observer, and since when. */
function ObserverBadge({ sessionId, observer }: { sessionId: string; observer: NonNullable<LiveSession['observer']> }) {
  const needs = observer.state === 'waiting' || observer.state === 'unconfirmed';
  const words: Record<string, string> = {
    grace: 'observer required (grace)',
    waiting: 'needs observer: input held',
    unconfirmed: 'observer unconfirmed: input held',
    observed: 'observed',
    paused: `input paused by ${observer.pausedBy?.name ?? 'an observer'}`,
    controlled: `controls taken by ${observer.controller?.name ?? 'an observer'}`,
  };
  return (
    <div>
      <span className={`badge ${needs ? 'broken' : 'watching'}`} data-testid={`live-observer-${sessionId}`} data-state={observer.state} title={observer.endsAt === null ? undefined : `Ends at ${observer.endsAt} if nobody observes`}>
        {words[observer.state] ?? observer.state}
      </span>
    </div>
  );
}
