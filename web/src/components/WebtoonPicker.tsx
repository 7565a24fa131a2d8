// WebtoonPicker.tsx — header control to switch, create and delete the artist's webtoons.
// Deleting asks for confirmation inline (it also removes that webtoon's assets and styles).
import { useState, type FormEvent } from 'react';
import { api, errorText } from '../api';
import { useSession } from '../session';

export function WebtoonPicker() {
  const s = useSession();
  const [mode, setMode] = useState<'idle' | 'create' | 'delete'>('idle');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const create = async (e: FormEvent) => {
    e.preventDefault();
    const n = name.trim();
    if (!n) { setError('Give the webtoon a name.'); return; }
    setBusy(true); setError(null);
    try {
      const w = await api.createWebtoon(n);
      await s.reloadWebtoons(w.id);
      setName(''); setMode('idle');
    } catch (err) { setError(errorText(err)); } finally { setBusy(false); }
  };

  const remove = async () => {
    if (!s.webtoon) return;
    setBusy(true); setError(null);
    try {
      await api.deleteWebtoon(s.webtoon.id);
      await s.reloadWebtoons();
      setMode('idle');
    } catch (err) { setError(errorText(err)); } finally { setBusy(false); }
  };

  return (
    <div className="webtoon-picker">
      {mode === 'create' ? (
        <form onSubmit={create} className="inline">
          <input aria-label="New webtoon name" placeholder="New webtoon name" value={name} autoFocus
                 maxLength={100} onChange={(e) => setName(e.target.value)} disabled={busy} />
          <button type="submit" className="primary" disabled={busy}>Create</button>
          <button type="button" onClick={() => { setMode('idle'); setError(null); }} disabled={busy}>Cancel</button>
        </form>
      ) : mode === 'delete' && s.webtoon ? (
        <div className="inline confirm">
          <span>Delete “{s.webtoon.name}” with its gallery and styles?</span>
          <button className="danger" onClick={remove} disabled={busy}>Delete webtoon</button>
          <button onClick={() => setMode('idle')} disabled={busy}>Keep it</button>
        </div>
      ) : (
        <div className="inline">
          <label className="muted" htmlFor="webtoon-select">Webtoon</label>
          <select id="webtoon-select" value={s.webtoon?.id ?? ''} onChange={(e) => s.selectWebtoon(e.target.value || null)}
                  disabled={s.webtoons.length === 0}>
            {s.webtoons.length === 0 && <option value="">No webtoons yet</option>}
            {s.webtoons.map((w) => <option key={w.id} value={w.id}>{w.name}</option>)}
          </select>
          <button onClick={() => setMode('create')}>New webtoon</button>
          {s.webtoon && <button className="subtle" onClick={() => setMode('delete')} title="Delete this webtoon">Delete</button>}
        </div>
      )}
      {error && <span className="error-text" role="alert">{error}</span>}
    </div>
  );
}
