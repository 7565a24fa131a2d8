// TrainView.tsx — a style.train job, live: the loss curve (an SVG plot of every step), the stage
// and step, the time left, the sample images as they come, and a cancel button. Samples: the
// job's preview is its latest sample image; each time detail.sample_steps gains a step the
// preview is fetched once and kept, so the strip grows while the job runs (after it ends, the
// job's sample-NNNNNN.png outputs are shown instead). A job that was interrupted and resumed
// keeps its curve: the server keeps the history with the checkpoint. Events carry only the
// latest losses (detail.losses is a window, detail.loss_count the total): the whole history
// is fetched once (GET /api/jobs/{id}/losses) when the view opens, then each event's window
// is merged in, so the curve shows every step, also after a reload mid-run.
import { useEffect, useRef, useState } from 'react';
import { api, errorText, type Job } from '../api';
import { useJob } from '../useJob';
import { ProgressBar } from './JobView';
import { LossCurve, mergeLosses, readLosses, readTrainDetail } from './LossCurve';

const STAGES: Record<string, string> = {
  prepare: 'Preparing (loading the model, encoding the samples)',
  ti: 'Stage 1 of 2: learning the style words <s1><s2>',
  lora: 'Stage 2 of 2: learning the LoRA',
  save: 'Saving the style',
};

export function timeLeft(s: number | null): string {
  if (s === null || s < 0) return 'estimating the time left…';
  if (s < 60) return 'less than a minute left';
  const m = Math.round(s / 60);
  if (m < 90) return `about ${m} min left`;
  return `about ${(s / 3600).toFixed(1)} h left`;
}

interface Sample { step: number; url: string; blob: boolean }

export function TrainView({ jobId, onFinished, onDismiss }: { jobId: string; onFinished?: (job: Job) => void; onDismiss?: () => void }) {
  const st = useJob(jobId);
  const d = readTrainDetail(st.detail);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const reported = useRef(false);
  const [curve, setCurve] = useState<Array<[number, number]>>([]);
  const rawDetail = st.detail;

  // the whole history once; the points events brought meanwhile are newer and win
  useEffect(() => {
    let gone = false;
    api.jobLosses(jobId).then((r) => { if (!gone) setCurve((c) => mergeLosses(readLosses(r.losses), c)); })
      .catch(() => { /* the curve still grows from the events */ });
    return () => { gone = true; };
  }, [jobId]);
  // each event's window of latest points
  useEffect(() => {
    const w = readTrainDetail(rawDetail)?.losses;
    if (w && w.length) setCurve((c) => mergeLosses(c, w));
  }, [rawDetail]);
  const lastSample = d && d.sampleSteps.length ? d.sampleSteps[d.sampleSteps.length - 1] : null;

  useEffect(() => {
    if (st.done && st.job && !reported.current) { reported.current = true; onFinished?.(st.job); }
  }, [st.done, st.job, onFinished]);

  // a new sample: keep the preview as it is now
  useEffect(() => {
    if (lastSample === null || st.done) return;
    let gone = false;
    const url = `/api/jobs/${encodeURIComponent(jobId)}/preview?sample=${lastSample}`;
    fetch(url, { credentials: 'same-origin' }).then((r) => (r.ok ? r.blob() : null)).then((b) => {
      if (gone || !b) return;
      const keep = URL.createObjectURL(b);
      setSamples((xs) => xs.some((x) => x.step === lastSample) ? (URL.revokeObjectURL(keep), xs)
        : [...xs.filter((x) => x.step < lastSample), { step: lastSample, url: keep, blob: true }]);
    }).catch(() => { /* the next sample will try again */ });
    return () => { gone = true; };
  }, [jobId, lastSample, st.done]);
  useEffect(() => () => { samples.forEach((x) => x.blob && URL.revokeObjectURL(x.url)); }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const cancel = async () => {
    setCancelling(true); setCancelError(null);
    try { await api.cancelJob(jobId); } catch (e) { setCancelError(errorText(e)); } finally { setCancelling(false); }
  };

  const status = st.done ? st.job?.status ?? 'failed' : 'running';
  const outputs = st.job?.status === 'succeeded' ? st.job.outputs ?? [] : [];
  const shown: Sample[] = outputs.length
    ? outputs.filter((o) => /^sample-\d+\.png$/.test(o.name)).map((o) => ({ step: Number(o.name.slice(7, -4)), url: api.jobOutputUrl(jobId, o.name), blob: false }))
    : samples;
  const files = outputs.filter((o) => o.name.endsWith('.safetensors'));
  const ti = (st.job?.params as { steps_ti?: unknown } | undefined)?.steps_ti;
  const split = d ? (d.stage === 'lora' ? d.totalStep - d.step : d.stage === 'ti' ? d.steps : typeof ti === 'number' ? ti : undefined) : undefined;
  return (
    <div className="job card train" data-testid="train-job" data-status={status}>
      <div className="job-head">
        <strong>Training the style</strong>
        <span className={'status-pill ' + status}>{st.done ? status : st.status ?? 'queued'}</span>
        {!st.done && <button className="subtle" onClick={cancel} disabled={cancelling}>{cancelling ? 'Cancelling…' : 'Cancel'}</button>}
        {st.done && onDismiss && <button className="subtle" onClick={onDismiss}>Dismiss</button>}
      </div>
      <ProgressBar value={st.progress} status={status} />
      <div className="facts-row small" data-testid="train-facts">
        {d && d.stage && <span>{STAGES[d.stage] ?? d.stage}</span>}
        {d && d.steps > 0 && <span>step <strong>{d.step}</strong> / {d.steps}</span>}
        {d && d.loss !== null && <span>loss <strong>{d.loss.toPrecision(4)}</strong></span>}
        {!st.done && <span data-testid="train-eta">{timeLeft(d?.etaS ?? null)}</span>}
        {d && d.resumedFrom !== null && <span className="muted">resumed from step {d.resumedFrom}</span>}
      </div>
      <div className={st.done && status === 'failed' ? 'error-text' : 'muted small'} role={status === 'failed' ? 'alert' : undefined}
           data-testid="job-message">{st.message}</div>
      {d?.checkpointError && <div className="warn-text small">{d.checkpointError}</div>}
      {st.error && <div className="warn-text small">{st.error}</div>}
      {cancelError && <div className="error-text small">{cancelError}</div>}
      {d ? <LossCurve detail={{ ...d, losses: curve.length ? curve : d.losses }} stageSplit={split} /> : <div className="muted small">The loss curve appears with the first step.</div>}
      {shown.length > 0 && (
        <div className="thumbs samples" data-testid="train-samples">
          {shown.map((x) => (
            <figure key={x.step} className="thumb"><img src={x.url} alt={`Sample at step ${x.step}`} /><figcaption className="small muted">step {x.step}</figcaption></figure>
          ))}
        </div>
      )}
      {files.length > 0 && (
        <div className="inline small">
          {files.map((o) => <a key={o.name} className="button" href={api.jobOutputUrl(jobId, o.name)} download={o.name}>{o.name}</a>)}
        </div>
      )}
    </div>
  );
}
