// "Chat accounts": link a Slack, Teams or Mattermost account to this Airlock account with the
// one-time code the Airlock bot sent in chat, see what is linked, unlink. Opening this screen
// also refreshes the roles chat decisions act on (the server records them on every visit).
import { useState, type FormEvent } from 'react';
import { errorMessage, linkChatAccount, listChatLinks, unlinkChatAccount, type ChatLink, type ChatPlatform } from '../api.ts';
import { ErrorMessage, Loading, Notice, Time } from '../shared/components.tsx';
import { useLoad } from '../shared/load.ts';

const PLATFORM_NAMES: Record<ChatPlatform, string> = { slack: 'Slack', teams: 'Microsoft Teams', mattermost: 'Mattermost' };

export function ChatAccounts() {
  const { state, reload } = useLoad(listChatLinks, 'chat-links');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function link(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const linked = await linkChatAccount(code);
      setNotice(`Linked ${PLATFORM_NAMES[linked.platform]} account ${linked.chatUser}.`);
      setCode('');
      reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  async function unlink(l: ChatLink) {
    setBusy(true);
    setError(null);
    try {
      await unlinkChatAccount(l.id);
      setNotice(`Unlinked ${PLATFORM_NAMES[l.platform]} account ${l.chatUser}.`);
      reload();
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card wide" data-testid="chat-accounts">
      <h1>Chat accounts</h1>
      {state.status === 'loading' && <Loading />}
      {state.status === 'error' && <ErrorMessage message={state.message} />}
      {state.status === 'ready' && state.data.platforms.length === 0 && <p className="muted">Chat approvals are not set up on this Airlock.</p>}
      {state.status === 'ready' && state.data.platforms.length > 0 && (
        <>
          <p>
            Link your {state.data.platforms.map((p) => PLATFORM_NAMES[p]).join(', ')} account to decide requests from chat. Click any Airlock button in
            chat: the bot answers, only to you, with a one-time code. Enter it here. Never enter a code someone else gave you.
          </p>
          {state.data.matchByEmail && <p className="muted">Your administrator also links chat accounts with the same verified email as yours.</p>}
          <form onSubmit={link} className="inline-form">
            <label>
              One-time code{' '}
              <input value={code} onChange={(e) => setCode(e.target.value)} placeholder="ABCDE-FGHJK" maxLength={32} required autoComplete="off" data-testid="chat-code" />
            </label>
            <button type="submit" disabled={busy || code.trim() === ''} data-testid="chat-link">
              Link
            </button>
          </form>
          {notice !== null && <Notice testId="chat-notice">{notice}</Notice>}
          <ErrorMessage message={error ?? state.refreshError} testId="chat-error" />
          {state.data.links.length === 0 ? (
            <p className="muted" data-testid="chat-none">
              No chat account is linked yet.
            </p>
          ) : (
            <table data-testid="chat-links">
              <thead>
                <tr>
                  <th>Platform</th>
                  <th>Account</th>
                  <th>Workspace</th>
                  <th>Linked</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {state.data.links.map((l) => (
                  <tr key={l.id}>
                    <td>{PLATFORM_NAMES[l.platform]}</td>
                    <td>{l.chatUser}</td>
                    <td>{l.workspace}</td>
                    <td>
                      <Time iso={l.linkedAt} /> {l.method === 'email' ? '(by email)' : ''}
                    </td>
                    <td>
                      <button type="button" className="secondary" disabled={busy} onClick={() => unlink(l)} data-testid={`unlink-${l.id}`}>
                        Unlink
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="muted">Chat decisions use the roles Airlock saw at your last visit here; after {state.data.profileMaxAgeHours} hours without one, open this page again.</p>
        </>
      )}
    </section>
  );
}
