// server.mjs — starts a real `oma serve --port 0` on a temporary data folder for API tests,
// and small clients for it: JSON requests, multipart uploads, SSE streams, raw HTTP (for
// requests fetch would refuse or normalise), and PNG builders (valid, truncated, bomb).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { makePng as encodePng, pngFromIdat } from '../../lib/png.mjs';
import { backendFor } from './backend.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..', '..');
export const omaBin = process.env.OMA_BIN || path.join(repoRoot, 'build-test', 'oma');

export function tempDataDir(tag = 'api') {
  return mkdtempSync(path.join(tmpdir(), `oma-${tag}-`));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

// Starts the server; resolves when it prints its listening line.
// With OMA_TEST_BACKEND=pg+s3 it runs on PostgreSQL + s3rver instead (backend.mjs).
export async function startServer({ dataDir, workers = 1, env = {}, args = [], timeoutMs = 30000 } = {}) {
  const backend = await backendFor(dataDir);
  const proc = spawn(omaBin, ['serve', '--port', '0', '--data', dataDir, '--workers', String(workers), ...backend.args, ...args], {
    env: { ...process.env, ...backend.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server did not start: ${stderr}`)); }, timeoutMs);
    proc.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run ${omaBin}: ${e.message}`)); });
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`server exited (${code ?? sig}): ${stderr}`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^oma: listening on (http:\/\/[^\s]+)$/m);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        const exited = new Promise((res) => proc.on('exit', (code, sig) => res({ code, sig })));
        resolve({
          url: m[1], proc, exited, stderr: () => stderr,
          async stop(signal = 'SIGTERM') { if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal); return exited; },
        });
      }
    });
  });
}

// JSON request: returns { status, headers, body (parsed JSON or null), text }.
export async function api(base, method, p, { token, body, cookie, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (cookie) h.cookie = cookie;
  let payload;
  if (body !== undefined) {
    h['content-type'] = 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + p, { method, headers: h, body: payload });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  return { status: res.status, headers: res.headers, body: json, text };
}

export async function download(base, p, token) {
  const res = await fetch(base + p, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

export async function upload(base, token, bytes, filename = 'image.png', type = 'image/png') {
  const fd = new FormData();
  fd.append('file', new Blob([bytes], { type }), filename);
  const res = await fetch(`${base}/api/uploads`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {}, body: fd });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { json = null; }
  return { status: res.status, body: json, text };
}

export async function signup(base, who = 'artist') {
  const email = `${who}-${Math.random().toString(16).slice(2)}@example.com`;
  const r = await api(base, 'POST', '/api/auth/signup', { body: { email, password: 'correct horse battery', name: who } });
  if (r.status !== 201) throw new Error(`signup failed: ${r.status} ${r.text}`);
  return { token: r.body.token, artist: r.body.artist, email, cookie: r.headers.get('set-cookie') };
}

// Reads an SSE stream until `done` (or timeout); returns the events [{event, data}].
export async function readEvents(base, p, token, timeoutMs = 30000) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const res = await fetch(base + p, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  const events = [];
  if (res.status !== 200) { clearTimeout(timer); return { status: res.status, events, contentType: res.headers.get('content-type') }; }
  const dec = new TextDecoder();
  let buf = '';
  try {
    for await (const chunk of res.body) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data += line.slice(6);
        }
        if (block.startsWith(':')) continue;
        ev.data = JSON.parse(ev.data);
        events.push(ev);
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return { status: res.status, events, contentType: res.headers.get('content-type') };
}

// Raw HTTP/1.1 request (no URL normalisation; optional streamed body of `size` bytes sent
// in chunks, stopping as soon as a response arrives; expect = true waits for "100 Continue"
// first). Resolves { status, headers, body, sent }; rejects if the connection breaks first.
export function raw(base, { method = 'GET', path: p, headers = {}, body, size, chunked = false, expect = false }) {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: p, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(data); } catch { json = null; }
        resolve({ status: res.statusCode, headers: res.headers, body: json, text: data, sent });
      });
      res.on('error', reject);
    });
    let sent = 0;
    let answered = false;
    req.on('response', () => { answered = true; });
    req.on('error', (e) => { if (!answered) reject(e); });
    if (body !== undefined) { req.end(body); return; }
    if (!size) { req.end(); return; }
    if (!chunked) req.setHeader('content-length', String(size));
    if (expect) {   // send the body only when the server says "100 Continue"
      req.setHeader('expect', '100-continue');
      req.on('continue', () => pumpStart());
      req.flushHeaders();
    }
    const piece = Buffer.alloc(256 * 1024, 0x41);
    const pump = () => {
      while (!answered && sent < size) {
        const n = Math.min(piece.length, size - sent);
        sent += n;
        if (!req.write(n === piece.length ? piece : piece.subarray(0, n))) { req.once('drain', pump); return; }
      }
      if (!answered || sent >= size) req.end();
    };
    function pumpStart() { pump(); }
    if (!expect) pump();
  });
}

// ---- PNG builders (the encoder is tests/lib/png.mjs, shared with the browser tests) ----
// An RGB PNG of w x h with a gradient (noise = true adds pseudo-random texture).
export function makePng(w, h, { noise = false, seed = 1 } = {}) {
  let s = seed >>> 0;
  return encodePng(w, h, (x, y) => {
    const r = (x * 255 / Math.max(1, w - 1)) | 0, g = (y * 255 / Math.max(1, h - 1)) | 0;
    let b = 128;
    if (noise) { s = (s * 1664525 + 1013904223) >>> 0; b = s >>> 24; }
    return [r, g, b];
  }, { level: 1 });
}

// A decompression bomb: a tiny file whose header claims w x h (default 60000 x 60000,
// ~10 GB of pixels) and whose IDAT inflates to `inflated` bytes of zeros.
export function makeBombPng(w = 60000, h = 60000, inflated = 64 << 20) {
  return pngFromIdat(w, h, zlib.deflateSync(Buffer.alloc(inflated, 0), { level: 9 }));
}
