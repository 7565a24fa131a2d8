// JobView.tsx — one job, live: a progress bar with percent, the worker's message and its latest
// preview; a cancel button while it runs; then the outputs (images shown, other files linked),
// each downloadable and savable to the gallery. A page may add its own view of the result.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { api, errorText, type Job } from '../api';
import { useJob } from '../useJob';
import { SaveToGallery } from './SaveToGallery';

interface Props {
  jobId: string;
  title?: string;
  onFinished?: (job: Job) => void;
  renderResult?: (job: Job) => ReactNode;
  showOutputs?: (name: string) => boolean;
  compact?: boolean;
  onDismiss?: () => void;
}

export function ProgressBar({ value, status }: { value: number; status: string }) {
  const pct = Math.round(value * 100);
  return (
    <div className={'progress ' + status} role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
      <div className="bar" style={{ width: pct + '%' }} />
      <span className="pct" data-testid="progress-percent">{pct}%</span>
    </div>
  );
}

export function JobView({ jobId, title, onFinished, renderResult, showOutputs, compact, onDismiss }: Props) {
  const st = useJob(jobId);
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const reported = useRef(false);

  useEffect(() => {
    if (st.done && st.job && !reported.current) { reported.current = true; onFinished?.(st.job); }
  }, [st.done, st.job, onFinished]);

  const cancel = async () => {
    setCancelling(true); setCancelError(null);
    try { await api.cancelJob(jobId); } catch (e) { setCancelError(errorText(e)); } finally { setCancelling(false); }
  };

  const status = st.done ? st.job?.status ?? 'failed' : 'running';
  const outputs = (st.job?.status === 'succeeded' ? st.job.outputs ?? [] : []).filter((o) => !showOutputs || showOutputs(o.name));
  return (
    <div className={'job card' + (compact ? ' compact' : '')} data-testid="job" data-status={status}>
      <div className="job-head">
        <strong>{title ?? 'Job'}</strong>
        <span className={'status-pill ' + status}>{st.done ? status : st.status ?? (st.progress > 0 ? 'running' : 'queued')}</span>
        {!st.done && <button className="subtle" onClick={cancel} disabled={cancelling}>{cancelling ? 'Cancelling…' : 'Cancel'}</button>}
        {st.done && onDismiss && <button className="subtle" onClick={onDismiss} title="Remove from this list (saved assets stay)">Dismiss</button>}
      </div>
      <ProgressBar value={st.progress} status={status} />
      <div className={st.done && status === 'failed' ? 'error-text' : 'muted small'} role={status === 'failed' ? 'alert' : undefined}
           data-testid="job-message">{st.message}</div>
      {st.error && <div className="warn-text small">{st.error}</div>}
      {cancelError && <div className="error-text small">{cancelError}</div>}
      {!st.done && st.preview && <img className="preview" src={st.preview} alt="Preview of the work in progress" />}
      {st.job && st.job.status === 'succeeded' && <ResultSummary job={st.job} />}
      {st.job && st.job.status === 'succeeded' && renderResult?.(st.job)}
      {outputs.length > 0 && (
        <div className="outputs">
          {outputs.map((o) => {
            const url = api.jobOutputUrl(jobId, o.name);
            const isImage = /^image\/(png|jpeg|webp|gif)$/.test(o.mime ?? ''); // a PSD is image/* but no browser shows it
            return (
              <div key={o.name} className="output" data-testid="job-output">
                {isImage ? <a href={url} target="_blank" rel="noreferrer"><img src={url} alt={o.name} /></a>
                  : <div className="file-chip">{o.name}</div>}
                <div className="output-actions">
                  <span className="small muted">{o.name} · {formatBytes(o.bytes)}</span>
                  <a className="button" href={url} download={o.name}>Download</a>
                  {isImage && <SaveToGallery jobId={jobId} output={o.name} defaultName={(title ?? 'Result') + ' ' + o.name.replace(/\.[a-z]+$/, '')} />}
                </div>
              </div>
            );
          })}
        </div>
      )}
    </div>
  );
}

// The job's own summary (e.g. {"people": 1, "path": "classic"}) as small facts, so the artist
// sees what ran and which path produced the result. Only short scalar values are shown.
function ResultSummary({ job }: { job: Job }) {
  const r = job.result;
  const facts = r && typeof r === 'object' && !Array.isArray(r)
    ? Object.entries(r).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v) && String(v).length <= 60).slice(0, 8)
    : [];
  return (
    <div className="facts-row small muted" data-testid="job-result">
      <code>{job.kind}</code>
      {facts.map(([k, v]) => <span key={k}>{k.replace(/_/g, ' ')}: <strong>{typeof v === 'number' ? Math.round(v * 1000) / 1000 : String(v)}</strong></span>)}
    </div>
  );
}

export function formatBytes(n: number | undefined): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}
