// scale.mjs — the scale-out set-up for API tests: a throw-away PostgreSQL cluster
// (tests/scale/pg_cluster.sh), an S3-compatible server (s3rver, tests/scale/s3_server.mjs)
// and `oma worker` processes. scaleAvailable() says why the set-up cannot run here (no
// postgres, no tests/scale/node_modules), so a test can skip with that reason.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { omaBin, removeDir, repoRoot } from './server.mjs';

const pgScript = path.join(repoRoot, 'tests', 'scale', 'pg_cluster.sh');
const s3Script = path.join(repoRoot, 'tests', 'scale', 's3_server.mjs');

export const s3Env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };

export function scaleAvailable() {
  const pg = execFileSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null || true']).toString().trim();
  if (!pg) return 'PostgreSQL is not installed (scripts/install-deps.sh test installs it)';
  if (!existsSync(path.join(repoRoot, 'tests', 'scale', 'node_modules', 's3rver'))) {
    return 'tests/scale/node_modules is missing (cd tests/scale && npm ci; make test does it)';
  }
  return null;
}

// Starts a cluster; { url, dir, psql(sql[, dbUrl]) -> text, stop() }.
export function startPostgres() {
  const dir = mkdtempSync(path.join(tmpdir(), 'oma-pgt-'));
  removeDir(dir); // pg_cluster.sh creates it with the right owner
  const url = execFileSync('bash', [pgScript, 'start', dir]).toString().trim();
  const bin = execFileSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']).toString().trim();
  return {
    url, dir,
    psql: (sql, dbUrl = url) => execFileSync(path.join(bin, 'psql'), [dbUrl, '-Atc', sql]).toString().trim(),
    stop: () => { try { execFileSync('bash', [pgScript, 'stop', dir]); } catch { /* already gone */ } },
  };
}

// Starts s3rver; { endpoint, storageUrl(prefix), stop() }.
export function startS3() {
  const dir = mkdtempSync(path.join(tmpdir(), 'oma-s3t-'));
  // stderr ignored and the process unref'd once ready: it must not keep a test file's event
  // loop (or the runner's pipes) alive; stop() or the exit hook ends it
  const proc = spawn(process.execPath, [s3Script, dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('s3rver did not start')); }, 90000);
    proc.on('exit', (c) => { clearTimeout(timer); reject(new Error(`s3rver exited (${c})`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^s3rver (http:\/\/\S+)$/m);
      if (!m) return;
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      proc.unref();
      proc.stdout.unref();
      resolve({
        endpoint: m[1],
        storageUrl: (prefix) => `s3://oma-test/${prefix}?endpoint=${m[1]}&region=us-east-1`,
        stop: () => { proc.kill('SIGTERM'); removeDir(dir); },
      });
    });
  });
}

// Starts `oma worker`; resolves when it says it is ready. { proc, pid, exited, stop(sig) }.
export function startWorker({ db, storage, dataDir, threads = 1, kinds, env = {}, timeoutMs = 30000 }) {
  const args = ['worker', '--db', db, '--storage', storage, '--data', dataDir, '--threads', String(threads)];
  if (kinds) args.push('--kinds', kinds);
  const proc = spawn(omaBin, args, { env: { ...process.env, ...s3Env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`worker did not start: ${stderr}`)); }, timeoutMs);
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`worker exited (${code ?? sig}): ${stderr}`)); });
    proc.stdout.on('data', (d) => {
      out += d;
      if (!/^oma: worker ready/m.test(out)) return;
      clearTimeout(timer);
      proc.removeAllListeners('exit');
      const exited = new Promise((res) => proc.on('exit', (code, sig) => res({ code, sig })));
      resolve({
        proc, pid: proc.pid, exited, stderr: () => stderr,
        async stop(signal = 'SIGTERM') { if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal); return exited; },
      });
    });
  });
}

// Runs `oma ARGS` to its end: { code, stdout, stderr }.
export function runOma(args, env = {}) {
  return new Promise((resolve) => {
    const proc = spawn(omaBin, args, { env: { ...process.env, ...s3Env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    proc.stdout.on('data', (d) => { stdout += d; });
    proc.stderr.on('data', (d) => { stderr += d; });
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
