// server.mjs — starts a real `oma serve` for a test on a free port with a fresh data folder,
// waits for its "oma: listening on http://HOST:PORT" line, and stops it afterwards (SIGTERM,
// then SIGKILL). The binary comes from OMA_BIN (set by ctest), else build-test/oma.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOURCE_DIR = process.env.OMA_SOURCE_DIR
  ?? resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const OMA_BIN = process.env.OMA_BIN ?? join(SOURCE_DIR, 'build-test', 'oma');
export const WEB_DIST = process.env.OMA_WEB_DIST ?? join(SOURCE_DIR, 'web', 'dist');

export async function startServer({ extraArgs = [], web = true, workers = 1, env: extraEnv = {}, timeoutMs = 30000 } = {}) {
  if (!existsSync(OMA_BIN)) throw new Error(`oma binary not found at ${OMA_BIN} (build it, or set OMA_BIN)`);
  if (web && !existsSync(join(WEB_DIST, 'index.html'))) {
    throw new Error(`web UI not built at ${WEB_DIST} (run: cd web && npm ci && npm run build)`);
  }
  const data = mkdtempSync(join(tmpdir(), 'oma-test-'));
  const args = ['serve', '--host', '127.0.0.1', '--port', '0', '--data', data, '--workers', String(workers),
    ...(web ? ['--web', WEB_DIST] : []), ...extraArgs];
  const env = { ...process.env, ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1' };
  delete env.OMA_MODELS;
  Object.assign(env, extraEnv);
  const child = spawn(OMA_BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const url = await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`oma serve did not say it was listening within ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const onData = (b) => {
      log += b.toString();
      const m = log.match(/oma: listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolveUrl(m[1].replace(/\/$/, '')); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`oma serve exited early (${code ?? sig}):\n${log}`)); });
  });
  child.removeAllListeners('exit');
  const exited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  return {
    url, data, child,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10000);
      const r = await exited;
      clearTimeout(t);
      rmSync(data, { recursive: true, force: true });
      return r;
    },
  };
}
