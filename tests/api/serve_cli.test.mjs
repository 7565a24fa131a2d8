// serve_cli.test.mjs — `oma serve` as a command: --help, usage errors (exit 2, one
// `oma: serve: ...` line), a port already taken (exit 1), settings from OMA_* variables,
// flags winning over them, and the data folder layout (DATA/oma.db, DATA/store).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { api, omaBin, removeDir, startServer, tempDataDir } from './lib/server.mjs';

function run(args, env = {}) {
  return spawnSync(omaBin, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });
}

test('--help and usage errors', () => {
  const h = run(['serve', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /usage: oma serve/);
  for (const args of [['serve', '--port', 'abc'], ['serve', '--port', '70000'], ['serve', '--workers', '-1'], ['serve', '--bogus'], ['serve', '--data']]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.status} ${r.stderr}`);
    assert.match(r.stderr, /^oma: serve: .+\n$/);
  }
  const e = run(['serve'], { OMA_PORT: 'x' });
  assert.equal(e.status, 2);
  assert.match(e.stderr, /OMA_PORT/);
});

test('settings from the environment; flags win; the data folder layout', async () => {
  const envData = tempDataDir('envdata');
  const flagData = tempDataDir('flagdata');
  const srv = await startServer({ dataDir: flagData, workers: 0, env: { OMA_DATA: envData, OMA_WORKERS: '3', OMA_HOST: '127.0.0.1' } });
  try {
    const h = await api(srv.url, 'GET', '/api/health');
    assert.equal(h.status, 200);
    assert.equal(h.body.workers, 0, '--workers beats OMA_WORKERS');
    assert.ok(existsSync(path.join(flagData, 'oma.db')), '--data beats OMA_DATA');
    assert.ok(existsSync(path.join(flagData, 'store')));
    assert.ok(!existsSync(path.join(envData, 'oma.db')));
    // the same port twice: the second server fails with exit 1 and says why
    const port = new URL(srv.url).port;
    const again = run(['serve', '--port', port, '--data', envData, '--workers', '0']);
    assert.equal(again.status, 1, again.stderr);
    assert.match(again.stderr, /^oma: serve: cannot listen/m);
  } finally {
    const { code } = await srv.stop('SIGINT');
    assert.equal(code, 0, 'SIGINT stops cleanly');
    removeDir(envData);
    removeDir(flagData);
  }
});
