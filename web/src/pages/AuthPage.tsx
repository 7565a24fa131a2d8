// AuthPage.tsx — sign up or log in. Checks the same limits as the server first (so mistakes
// show at once) and always shows the server's own message when it says no.
import { useState, type FormEvent } from 'react';
import { api, errorText } from '../api';
import { useSession } from '../session';

export function AuthPage() {
  const s = useSession();
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    if (!email.includes('@') || email.length < 3 || email.length > 254) { setError('Enter a valid email address.'); return; }
    if (password.length < 8) { setError('The password needs at least 8 characters.'); return; }
    if (mode === 'signup' && !name.trim()) { setError('Tell us the name to show on your work.'); return; }
    setBusy(true);
    try {
      const r = mode === 'signup' ? await api.signup(email, password, name.trim()) : await api.login(email, password);
      s.setArtist(r.artist);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="auth">
      <div className="auth-card card">
        <h1><img src="/favicon.svg" alt="" /> Oh My Assistant</h1>
        <p className="muted">Your studio assistant for backgrounds, poses and style — for comic and webtoon artists.</p>
        <div className="segmented" role="tablist">
          <button role="tab" aria-selected={mode === 'login'} className={mode === 'login' ? 'on' : ''}
                  onClick={() => { setMode('login'); setError(null); }}>Log in</button>
          <button role="tab" aria-selected={mode === 'signup'} className={mode === 'signup' ? 'on' : ''}
                  onClick={() => { setMode('signup'); setError(null); }}>Sign up</button>
        </div>
        <form onSubmit={submit} className="stack">
          {mode === 'signup' && (
            <label>Name<input name="name" value={name} maxLength={100} onChange={(e) => setName(e.target.value)} autoComplete="name" /></label>
          )}
          <label>Email<input name="email" type="email" value={email} maxLength={254} onChange={(e) => setEmail(e.target.value)} autoComplete="email" /></label>
          <label>Password<input name="password" type="password" value={password} maxLength={1024}
                 onChange={(e) => setPassword(e.target.value)} autoComplete={mode === 'signup' ? 'new-password' : 'current-password'} /></label>
          {error && <div className="error-text" role="alert">{error}</div>}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'One moment…' : mode === 'signup' ? 'Create account' : 'Log in'}
          </button>
        </form>
      </div>
    </div>
  );
}
