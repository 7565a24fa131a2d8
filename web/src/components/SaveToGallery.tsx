// SaveToGallery.tsx — keep one job output in the current webtoon's gallery with a name and a
// description (POST /api/webtoons/{id}/assets). Says plainly when no webtoon is selected.
import { useState, type FormEvent } from 'react';
import { api, errorText } from '../api';
import { useSession } from '../session';

export function SaveToGallery({ jobId, output, defaultName }: { jobId: string; output: string; defaultName: string }) {
  const s = useSession();
  const [open, setOpen] = useState(false);
  const [name, setName] = useState(defaultName);
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  if (!s.webtoon) return <span className="muted small">Create a webtoon to save results.</span>;
  if (saved) return <span className="ok-text">Saved to “{saved}” in {s.webtoon.name}’s gallery ✓</span>;
  if (!open) return <button onClick={() => setOpen(true)}>Save to gallery</button>;

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) { setError('Give it a name.'); return; }
    setBusy(true); setError(null);
    try {
      await api.saveAsset(s.webtoon!.id, jobId, output, name.trim(), description.trim());
      setSaved(name.trim());
    } catch (err) { setError(errorText(err)); } finally { setBusy(false); }
  };
  return (
    <form className="save-form" onSubmit={save}>
      <input aria-label="Asset name" placeholder="Name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
      <input aria-label="Asset description" placeholder="Description (optional)" value={description} maxLength={2000}
             onChange={(e) => setDescription(e.target.value)} />
      <button type="submit" className="primary" disabled={busy}>{busy ? 'Saving…' : 'Save'}</button>
      <button type="button" onClick={() => setOpen(false)} disabled={busy}>Cancel</button>
      {error && <div className="error-text" role="alert">{error}</div>}
    </form>
  );
}
