// serve_cli.test.mjs — `oma serve` as a command: --help, usage errors (exit 2, one
// `oma: serve: ...` line), a port already taken (exit 1), settings from OMA_* variables,
// flags winning over them, and where the data goes: DATA/oma.db and DATA/store on the
// embedded default; on postgres + s3 (api.serve_cli@pg) the schema in the --db database and an
// upload under the --storage prefix (read back by AWS's client), nothing of either in DATA, and
// --db/--storage winning over OMA_DB/OMA_STORAGE.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { backendFor, backendName } from './lib/backend.mjs';
import { api, makePng, omaBin, removeDir, repoRoot, signup, startServer, tempDataDir, upload } from './lib/server.mjs';

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

test('settings from the environment; flags win; where the data goes', async () => {
  // the data folders do not exist yet: the one the server creates is the one it took
  const envRoot = tempDataDir('envdata');
  const flagRoot = tempDataDir('flagdata');
  const envData = path.join(envRoot, 'data');
  const flagData = path.join(flagRoot, 'data');
  const pg = backendName() === 'pg+s3';
  // on postgres + s3 the database and the bucket come from flags too; OMA_DB and OMA_STORAGE
  // name ones that cannot be reached, so the server starts only if the flags win
  const env = { OMA_DATA: envData, OMA_WORKERS: '3', OMA_HOST: '127.0.0.1' };
  if (pg) Object.assign(env, { OMA_DB: 'postgres://nobody@127.0.0.1:1/none', OMA_STORAGE: 's3://no-such-bucket?endpoint=http://127.0.0.1:1' });
  const srv = await startServer({ dataDir: flagData, workers: 0, env });
  const backend = await backendFor(flagData);
  try {
    const h = await api(srv.url, 'GET', '/api/health');
    assert.equal(h.status, 200);
    assert.equal(h.body.workers, 0, '--workers beats OMA_WORKERS');
    assert.ok(existsSync(flagData), '--data beats OMA_DATA');
    assert.ok(!existsSync(envData));
    if (!pg) {
      // the embedded default: DATA/oma.db (SQLite) and DATA/store (the folder driver)
      assert.ok(existsSync(path.join(flagData, 'oma.db')));
      assert.ok(existsSync(path.join(flagData, 'store')));
    } else {
      // --db / --storage: nothing of either in the data folder; the schema is in the flag's
      // database and an upload's bytes land under the flag's bucket prefix, content-addressed
      assert.ok(!existsSync(path.join(flagData, 'oma.db')), 'no SQLite file beside PostgreSQL');
      assert.ok(!existsSync(path.join(flagData, 'store')), 'no store folder beside S3');
      assert.equal(backend.db.psql("SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ('jobs', 'uploads', 'artists')"), '3');
      const { token } = await signup(srv.url, 'layout');
      const u = await upload(srv.url, token, makePng(8, 8));
      assert.equal(u.status, 201, u.text);
      const key = `${backend.s3.prefix}/blobs/sha256/${u.body.sha256.slice(0, 2)}/${u.body.sha256}`;
      const listed = execFileSync('node', [path.join(repoRoot, 'tests', 'scale', 's3_crosscheck.mjs'), backend.s3.endpoint, backend.s3.bucket, 'list', `${backend.s3.prefix}/blobs/`],
        { env: { ...process.env, ...backend.env, NODE_NO_WARNINGS: '1' } }).toString().split('\n');
      assert.ok(listed.includes(key), `${key} in the bucket: ${listed.join(' ')}`);
      assert.equal(backend.db.psql(`SELECT storage_key FROM uploads WHERE id = '${u.body.id}'`), key.slice(backend.s3.prefix.length + 1));
    }
    // the same port twice: the second server fails with exit 1 and says why
    const port = new URL(srv.url).port;
    const again = run(['serve', '--port', port, '--data', envData, '--workers', '0', ...backend.args], backend.env);
    assert.equal(again.status, 1, again.stderr);
    assert.match(again.stderr, /^oma: serve: cannot listen/m);
  } finally {
    const { code } = await srv.stop('SIGINT');
    assert.equal(code, 0, 'SIGINT stops cleanly');
    removeDir(envRoot);
    removeDir(flagRoot);
  }
});
