// api.ts — the one place the UI talks to the server (docs/API.md).
// Every call is same-origin /api/... with the session cookie; every failure becomes an ApiError
// carrying the server's {"error":{"code","message"}} so pages can show a sentence for a person.

export const SESSION_ENDED = 'oma:session-ended';

export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export interface Artist { id: string; email: string; name: string; created_at?: string }
export interface Upload { id: string; mime: string; width: number; height: number; bytes: number; sha256?: string }
export interface Style { id: string; name: string; kind: string; status: string; data: unknown; created_at: string }
export interface Webtoon {
  id: string; name: string; description?: string; created_at: string;
  samples?: Array<{ upload_id: string } & Partial<Upload>>; styles?: Style[];
}
export interface Capability { name: string; title: string; available: boolean }
export interface JobOutput { name: string; mime: string; bytes: number }
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export interface Job {
  id: string; kind: string; status: JobStatus; progress: number; message?: string | null;
  params?: unknown; inputs?: unknown; result?: Record<string, unknown> | null;
  outputs?: JobOutput[]; error?: unknown; created_at?: string;
  detail?: unknown;         // a kind's own progress fields (style.train: stage, step, loss, eta_s, losses)
  attempts?: number;
}
export interface Asset {
  id: string; webtoon_id: string; name: string; description?: string; mime: string; kind?: string;
  job_id?: string; inputs?: Array<{ name: string; upload_id: string }>; created_at: string;
}
export type JobInputs = Record<string, string | string[]>;
export interface ApiToken { id: string; name: string; created_at: string; last_used_at: string | null; token?: string }

function errorFromBody(status: number, body: unknown): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (e && typeof e.message === 'string') {
    return new ApiError(status, typeof e.code === 'string' ? e.code : 'error', e.message);
  }
  return new ApiError(status, 'http_' + status, `The server answered ${status}.`);
}

async function request<T>(method: string, path: string, body?: unknown | FormData): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: {} };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the server. Check that it is running, then try again.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try { parsed = JSON.parse(text); } catch { parsed = null; }
  }
  if (!res.ok) {
    // A session that ended (logged out elsewhere, expired): tell the app to show the log-in page.
    if (res.status === 401 && !path.startsWith('/api/auth/')) window.dispatchEvent(new Event(SESSION_ENDED));
    throw errorFromBody(res.status, parsed);
  }
  return parsed as T;
}

export const api = {
  health: () => request<{ status: string; version?: string; workers?: number }>('GET', '/api/health'),
  capabilities: () => request<{ kinds: Capability[]; samplers?: string[]; pose_models?: Array<{ name: string; available: boolean }>; precision?: { default?: string; choices?: string[] } }>('GET', '/api/capabilities'),

  signup: (email: string, password: string, name: string) =>
    request<{ artist: Artist; token: string }>('POST', '/api/auth/signup', { email, password, name }),
  login: (email: string, password: string) =>
    request<{ artist: Artist; token: string }>('POST', '/api/auth/login', { email, password }),
  logout: () => request<void>('POST', '/api/auth/logout'),
  me: () => request<Artist>('GET', '/api/me'),
  /** Long-lived API tokens for scripts and AUTOMATIC1111 clients; the secret comes back once. */
  tokens: () => request<{ tokens: ApiToken[] }>('GET', '/api/tokens'),
  createToken: (name: string) => request<ApiToken>('POST', '/api/tokens', { name }),
  revokeToken: (id: string) => request<void>('DELETE', `/api/tokens/${encodeURIComponent(id)}`),

  upload: (file: Blob, filename = 'image.png') => {
    const fd = new FormData();
    fd.append('file', file, filename);
    return request<Upload>('POST', '/api/uploads', fd);
  },
  uploadFileUrl: (id: string) => `/api/uploads/${encodeURIComponent(id)}/file`,

  webtoons: () => request<{ webtoons: Webtoon[] }>('GET', '/api/webtoons'),
  webtoon: (id: string) => request<Webtoon>('GET', `/api/webtoons/${encodeURIComponent(id)}`),
  createWebtoon: (name: string, description?: string) =>
    request<Webtoon>('POST', '/api/webtoons', description ? { name, description } : { name }),
  deleteWebtoon: (id: string) => request<void>('DELETE', `/api/webtoons/${encodeURIComponent(id)}`),
  addSample: (webtoonId: string, uploadId: string) =>
    request<unknown>('POST', `/api/webtoons/${encodeURIComponent(webtoonId)}/samples`, { upload_id: uploadId }),
  deleteSample: (webtoonId: string, uploadId: string) =>
    request<void>('DELETE', `/api/webtoons/${encodeURIComponent(webtoonId)}/samples/${encodeURIComponent(uploadId)}`),
  styles: (webtoonId: string) =>
    request<{ styles: Style[] }>('GET', `/api/webtoons/${encodeURIComponent(webtoonId)}/styles`),

  createJob: (kind: string, params: unknown, inputs: JobInputs, webtoonId?: string) =>
    request<Job>('POST', '/api/jobs', webtoonId ? { kind, params, inputs, webtoon_id: webtoonId } : { kind, params, inputs }),
  job: (id: string) => request<Job>('GET', `/api/jobs/${encodeURIComponent(id)}`),
  cancelJob: (id: string) => request<Job>('DELETE', `/api/jobs/${encodeURIComponent(id)}`),
  jobEventsUrl: (id: string) => `/api/jobs/${encodeURIComponent(id)}/events`,
  /** A training job's whole loss history (its events carry only the latest points). */
  jobLosses: (id: string) => request<{ losses: unknown; loss_count: number }>('GET', `/api/jobs/${encodeURIComponent(id)}/losses`),
  jobOutputUrl: (id: string, name: string) =>
    `/api/jobs/${encodeURIComponent(id)}/outputs/${encodeURIComponent(name)}`,

  saveAsset: (webtoonId: string, jobId: string, output: string | undefined, name: string, description: string) =>
    request<Asset>('POST', `/api/webtoons/${encodeURIComponent(webtoonId)}/assets`,
      { job_id: jobId, ...(output ? { output } : {}), name, ...(description ? { description } : {}) }),
  assets: (webtoonId: string, limit: number, offset: number) =>
    request<{ assets: Asset[]; total: number; limit: number; offset: number }>(
      'GET', `/api/webtoons/${encodeURIComponent(webtoonId)}/assets?limit=${limit}&offset=${offset}`),
  assetFileUrl: (id: string) => `/api/assets/${encodeURIComponent(id)}/file`,
  deleteAsset: (id: string) => request<void>('DELETE', `/api/assets/${encodeURIComponent(id)}`),
};

/** A sentence for a person from anything thrown. */
export function errorText(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s ? s[0].toUpperCase() + s.slice(1) : 'Something went wrong.';
}

/** Fetches a job output as text (e.g. pose.json) with the session cookie. */
export async function fetchOutputText(jobId: string, name: string): Promise<string> {
  const res = await fetch(api.jobOutputUrl(jobId, name), { credentials: 'same-origin' });
  if (!res.ok) throw new ApiError(res.status, 'http_' + res.status, `Could not load ${name} (${res.status}).`);
  return res.text();
}
