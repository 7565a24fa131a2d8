// AccountPage.tsx — the artist's account: who they are, and their API tokens (make one, see
// when each was last used, revoke one). A token's secret is shown once, right after it is made,
// with how AUTOMATIC1111 clients use it (Bearer, or HTTP Basic with the e-mail as the user).
import { useCallback, useEffect, useState } from 'react';
import { api, errorText, type ApiToken } from '../api';
import { useSession } from '../session';

function when(t: string | null): string {
  if (!t) return 'never';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

export function AccountPage() {
  const s = useSession();
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [name, setName] = useState('');
  const [fresh, setFresh] = useState<ApiToken | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try { setTokens((await api.tokens()).tokens); } catch (e) { setError(errorText(e)); }
  }, []);
  useEffect(() => { void load(); }, [load]);

  const make = async () => {
    setBusy(true); setError(null);
    try {
      const t = await api.createToken(name.trim() || 'API token');
      setFresh(t);
      setName('');
      await load();
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };
  const revoke = async (t: ApiToken) => {
    if (!window.confirm(`Revoke “${t.name}”? Programs using it stop working at once.`)) return;
    setError(null);
    try {
      await api.revokeToken(t.id);
      if (fresh?.id === t.id) setFresh(null);
      await load();
    } catch (e) { setError(errorText(e)); }
  };
  const origin = window.location.origin;

  return (
    <div className="two-col">
      <section className="card stack">
        <h2>Account</h2>
        <dl className="facts">
          <dt>Name</dt><dd>{s.artist?.name}</dd>
          <dt>E-mail</dt><dd>{s.artist?.email}</dd>
        </dl>
        <h3>AUTOMATIC1111 clients</h3>
        <p className="muted small">
          Tools, plugins and bots made for AUTOMATIC1111’s API work with this server: give them the
          address <code>{origin}</code> and an API token, either as <code>Authorization: Bearer</code> or
          as a user name and password (your e-mail and the token). Each request runs as one of your jobs.
        </p>
      </section>
      <section className="card stack" data-testid="api-tokens">
        <h2>API tokens</h2>
        <p className="muted small">A token lets a program act as you until you revoke it. Its secret is shown only once.</p>
        <div className="inline">
          <input aria-label="Token name" placeholder="Name, e.g. Krita plugin" maxLength={100} value={name}
                 onChange={(e) => setName(e.target.value)} />
          <button className="primary" onClick={make} disabled={busy}>Make a token</button>
        </div>
        {fresh?.token && (
          <div className="banner warn stack" data-testid="new-token">
            <strong>Copy your new token now: it will not be shown again.</strong>
            <code className="secret" data-testid="token-secret">{fresh.token}</code>
            <span className="small">For HTTP Basic: user <code>{s.artist?.email}</code>, password the token.</span>
          </div>
        )}
        {error && <div className="error-text" role="alert">{error}</div>}
        {tokens === null && !error && <div className="muted">Loading…</div>}
        {tokens && tokens.length === 0 && <div className="muted">No tokens yet.</div>}
        {tokens && tokens.length > 0 && (
          <table className="tokens">
            <thead><tr><th>Name</th><th>Made</th><th>Last used</th><th /></tr></thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id} data-testid="token-row">
                  <td>{t.name}</td><td>{when(t.created_at)}</td><td>{when(t.last_used_at)}</td>
                  <td><button className="link" onClick={() => revoke(t)}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
