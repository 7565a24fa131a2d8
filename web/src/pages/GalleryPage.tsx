// GalleryPage.tsx — the current webtoon's saved assets, newest first, a page at a time: a
// thumbnail, name, description and date, download, and delete after an inline confirmation.
import { useCallback, useEffect, useState } from 'react';
import { api, errorText, type Asset } from '../api';
import { NeedWebtoon } from '../components/Unavailable';
import { useSession } from '../session';

const PAGE = 12;

export function GalleryPage() {
  const s = useSession();
  const [assets, setAssets] = useState<Asset[]>([]);
  const [total, setTotal] = useState(0);
  const [offset, setOffset] = useState(0);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<string | null>(null);
  const webtoonId = s.webtoon?.id;

  const load = useCallback(async (off: number) => {
    if (!webtoonId) return;
    setLoading(true); setError(null);
    try {
      const r = await api.assets(webtoonId, PAGE, off);
      const list = Array.isArray(r.assets) ? r.assets : [];
      if (list.length === 0 && off > 0 && r.total > 0) { setOffset(Math.max(0, off - PAGE)); return; }
      setAssets(list); setTotal(typeof r.total === 'number' ? r.total : list.length);
    } catch (e) { setError(errorText(e)); } finally { setLoading(false); }
  }, [webtoonId]);

  useEffect(() => { setOffset(0); }, [webtoonId]);
  useEffect(() => { load(offset); }, [load, offset]);

  if (!s.webtoon) return <NeedWebtoon what="The gallery" />;

  const remove = async (id: string) => {
    setError(null);
    try { await api.deleteAsset(id); setConfirm(null); await load(offset); } catch (e) { setError(errorText(e)); }
  };

  const pages = Math.max(1, Math.ceil(total / PAGE));
  const page = Math.floor(offset / PAGE) + 1;
  return (
    <div className="stack">
      <div className="page-head">
        <h2>Gallery <span className="muted small">{s.webtoon.name} · {total} asset{total === 1 ? '' : 's'}</span></h2>
        <button onClick={() => load(offset)} disabled={loading}>Refresh</button>
      </div>
      {error && <div className="banner error" role="alert">{error}</div>}
      {!loading && assets.length === 0 && !error && (
        <div className="card empty muted">Nothing saved yet. Run a job and press “Save to gallery” on a result.</div>
      )}
      <div className="gallery">
        {assets.map((a) => (
          <article key={a.id} className="asset card" data-testid="asset">
            <a href={api.assetFileUrl(a.id)} target="_blank" rel="noreferrer" className="asset-thumb">
              {/^image\/(png|jpeg|webp|gif)$/.test(a.mime ?? '') ? <img src={api.assetFileUrl(a.id)} alt={a.name} loading="lazy" /> : <div className="file-chip">{a.mime}</div>}
            </a>
            <h3 className="asset-name">{a.name}</h3>
            {a.description && <p className="asset-desc">{a.description}</p>}
            {Array.isArray(a.inputs) && a.inputs.length > 0 && (
              <div className="asset-inputs" data-testid="asset-inputs">
                <span className="muted small">Made from</span>
                {a.inputs.slice(0, 8).map((i) => (
                  <a key={i.name + i.upload_id} href={api.uploadFileUrl(i.upload_id)} target="_blank" rel="noreferrer" title={i.name}>
                    <img src={api.uploadFileUrl(i.upload_id)} alt={`input ${i.name}`} loading="lazy" />
                  </a>
                ))}
                {a.inputs.length > 8 && <span className="muted small">+{a.inputs.length - 8}</span>}
              </div>
            )}
            <p className="muted small">{a.kind ? a.kind + ' · ' : ''}{formatDate(a.created_at)}</p>
            {confirm === a.id ? (
              <div className="inline confirm">
                <span>Delete “{a.name}”?</span>
                <button className="danger" onClick={() => remove(a.id)}>Delete</button>
                <button onClick={() => setConfirm(null)}>Keep</button>
              </div>
            ) : (
              <div className="inline">
                <a className="button" href={api.assetFileUrl(a.id)} download>Download</a>
                <button className="subtle" onClick={() => setConfirm(a.id)}>Delete…</button>
              </div>
            )}
          </article>
        ))}
      </div>
      {pages > 1 && (
        <div className="pager">
          <button disabled={offset === 0 || loading} onClick={() => setOffset(Math.max(0, offset - PAGE))}>← Newer</button>
          <span className="muted">Page {page} of {pages}</span>
          <button disabled={offset + PAGE >= total || loading} onClick={() => setOffset(offset + PAGE)}>Older →</button>
        </div>
      )}
    </div>
  );
}

export function formatDate(s: string | undefined): string {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}
