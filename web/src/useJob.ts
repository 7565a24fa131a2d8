// useJob.ts — follows one job live. It listens to GET /api/jobs/{id}/events (Server-Sent
// Events: "progress" then "done"), and if the stream breaks it falls back to polling the job,
// so a flaky connection never loses a result. The preview URL gets a counter so the browser
// reloads the image on every progress event that carries one.
import { useEffect, useRef, useState } from 'react';
import { ApiError, api, errorText, type Job } from './api';

export interface JobState {
  job: Job | null;          // the final job object once done (or the last polled one)
  progress: number;         // 0..1
  message: string;
  preview: string | null;   // URL with a cache-busting suffix
  done: boolean;
  error: string | null;     // transport trouble (not the job's own failure)
  status: string | null;    // 'queued' | 'running' while live, as the server last said
  detail: unknown;          // the kind's own progress object (job.detail), as last seen
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

function clamp01(x: unknown): number {
  const n = typeof x === 'number' && Number.isFinite(x) ? x : 0;
  return Math.min(1, Math.max(0, n));
}

export function useJob(jobId: string | null): JobState {
  const [state, setState] = useState<JobState>({ job: null, progress: 0, message: 'Queued', preview: null, done: false, error: null, status: null, detail: null });
  const previewN = useRef(0);

  useEffect(() => {
    if (!jobId) return;
    let closed = false;
    let poll: number | undefined;
    setState({ job: null, progress: 0, message: 'Queued', preview: null, done: false, error: null, status: null, detail: null });

    const finish = (job: Job) => {
      if (closed) return;
      closed = true;
      es?.close();
      if (poll !== undefined) window.clearTimeout(poll);
      setState((s) => ({
        ...s, job, done: true, error: null, detail: job.detail ?? s.detail,
        progress: job.status === 'succeeded' ? 1 : clamp01(job.progress ?? s.progress),
        message: job.status === 'succeeded' ? 'Done' : job.status === 'cancelled' ? 'Cancelled'
          : (jobErrorText(job) ?? 'Failed'),
      }));
    };

    const pollOnce = async () => {
      if (closed) return;
      try {
        const job = await api.job(jobId);
        if (FINAL.has(job.status)) { finish(job); return; }
        setState((s) => ({ ...s, job, progress: clamp01(job.progress), message: job.message ?? s.message, error: null, status: job.status, detail: job.detail ?? s.detail }));
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 401)) {
          closed = true;
          setState((s) => ({ ...s, done: true, error: null,
            message: e.status === 404 ? 'This job no longer exists.' : 'Log in again to see this job.' }));
          return;
        }
        setState((s) => ({ ...s, error: 'Lost contact with the server; retrying… (' + errorText(e) + ')' }));
      }
      if (!closed) poll = window.setTimeout(pollOnce, 1000);
    };

    let es: EventSource | null = null;
    try {
      es = new EventSource(api.jobEventsUrl(jobId));
      es.addEventListener('progress', (ev) => {
        try {
          const d = JSON.parse((ev as MessageEvent).data) as { progress?: number; message?: string; preview?: string | null; status?: string; detail?: unknown };
          let preview: string | null = null;
          if (typeof d.preview === 'string' && d.preview.startsWith('/api/')) {
            previewN.current += 1;
            preview = d.preview + (d.preview.includes('?') ? '&' : '?') + 'n=' + previewN.current;
          }
          setState((s) => ({ ...s, progress: clamp01(d.progress), message: d.message ?? s.message,
            preview: preview ?? s.preview, error: null, status: typeof d.status === 'string' ? d.status : s.status,
            detail: d.detail ?? s.detail }));
        } catch { /* a malformed event is skipped; the final one decides */ }
      });
      es.addEventListener('done', (ev) => {
        try { finish(JSON.parse((ev as MessageEvent).data) as Job); } catch { es?.close(); pollOnce(); }
      });
      es.onerror = () => {
        if (closed) return;
        es?.close();
        es = null;
        pollOnce();
      };
    } catch {
      pollOnce();
    }
    return () => {
      closed = true;
      es?.close();
      if (poll !== undefined) window.clearTimeout(poll);
    };
  }, [jobId]);

  return state;
}

/** The job's own failure as a sentence, whatever shape the server used. */
export function jobErrorText(job: Job): string | null {
  const e = job.error as unknown;
  if (!e) return null;
  if (typeof e === 'string') return e;
  if (typeof e === 'object' && e && typeof (e as { message?: unknown }).message === 'string') {
    return (e as { message: string }).message;
  }
  return JSON.stringify(e);
}
