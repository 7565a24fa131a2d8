// ToolsPage.tsx — small utilities; for now image.normalize (resize / fit / round sizes to a
// multiple), the simplest end-to-end job, handy to prepare photos for the other pages.
import { useState } from 'react';
import { api, errorText, type Upload } from '../api';
import { ImagePicker } from '../components/ImagePicker';
import { JobView } from '../components/JobView';
import { Unavailable } from '../components/Unavailable';
import { useSession } from '../session';
import { isJobRefs, isUploads, useStoredState, type JobRef } from '../stored';

export function ToolsPage() {
  const s = useSession();
  const [uploads, setUploads] = useStoredState<Upload[]>(`oma.${s.artist?.id}.tools.photo`, [], isUploads);
  const [maxSide, setMaxSide] = useState(1024);
  const [fit, setFit] = useState<'contain' | 'cover' | 'none'>('contain');
  const [multiple, setMultiple] = useState(8);
  const [width, setWidth] = useState('');
  const [height, setHeight] = useState('');
  const [jobs, setJobs] = useStoredState<JobRef[]>(`oma.${s.artist?.id}.tools.jobs`, [], isJobRefs);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (s.capabilities && !s.kindAvailable('image.normalize')) {
    return <Unavailable title="Image normalisation" kinds={['image.normalize']} need="This server has no image.normalize job kind." />;
  }

  const run = async () => {
    if (uploads.length === 0) { setError('Choose an image first.'); return; }
    const params: Record<string, unknown> = { max_side: maxSide, fit, multiple_of: multiple };
    const w = parseInt(width, 10), h = parseInt(height, 10);
    if (width && (!(w >= 1 && w <= 8192))) { setError('Width must be between 1 and 8192.'); return; }
    if (height && (!(h >= 1 && h <= 8192))) { setError('Height must be between 1 and 8192.'); return; }
    if (width) params.width = w;
    if (height) params.height = h;
    setBusy(true); setError(null);
    try {
      const job = await api.createJob('image.normalize', params, { image: uploads[0].id }, s.webtoon?.id);
      setJobs((j) => [{ id: job.id, title: 'Normalised image' }, ...j].slice(0, 10));
    } catch (e) { setError(errorText(e)); } finally { setBusy(false); }
  };

  return (
    <div className="two-col">
      <section className="card stack">
        <h2>Normalise an image</h2>
        <p className="muted">Fix the photo’s rotation, scale it and round its size, ready for the other tools.</p>
        <ImagePicker label="Choose image" uploads={uploads} onChange={setUploads} testId="tools-image" />
        <div className="grid-form">
          <label>Longest side (px)<input type="number" min={16} max={8192} value={maxSide}
                 onChange={(e) => setMaxSide(Math.max(16, Math.min(8192, Number(e.target.value) || 1024)))} /></label>
          <label>Fit<select value={fit} onChange={(e) => setFit(e.target.value as typeof fit)}>
            <option value="contain">contain (keep everything)</option>
            <option value="cover">cover (crop to fill)</option>
            <option value="none">none (stretch)</option>
          </select></label>
          <label>Width (optional)<input type="number" min={1} max={8192} value={width} onChange={(e) => setWidth(e.target.value)} /></label>
          <label>Height (optional)<input type="number" min={1} max={8192} value={height} onChange={(e) => setHeight(e.target.value)} /></label>
          <label>Round sizes to a multiple of<select value={multiple} onChange={(e) => setMultiple(Number(e.target.value))}>
            {[1, 8, 16, 32, 64].map((m) => <option key={m} value={m}>{m}</option>)}
          </select></label>
        </div>
        {error && <div className="error-text" role="alert">{error}</div>}
        <button className="primary" onClick={run} disabled={busy || uploads.length === 0}>Run</button>
      </section>
      <section className="stack">
        {jobs.length === 0 && <div className="card empty muted">Results appear here.</div>}
        {jobs.map((j) => <JobView key={j.id} jobId={j.id} title={j.title} onDismiss={() => setJobs((x) => x.filter((y) => y.id !== j.id))} />)}
      </section>
    </div>
  );
}
