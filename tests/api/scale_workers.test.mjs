// scale_workers.test.mjs — scale-out on PostgreSQL + S3 (s3rver) with worker processes:
// 2 API processes (`oma serve --workers 0`) and 3 `oma worker` processes share one database
// and one bucket; 50 jobs from 3 artists; one worker is killed (SIGKILL) while it runs a job
// and one API process is killed too. Every job ends succeeded exactly once: the killed
// worker's job ran again after its lease expired (attempts 2), every other job once, each has
// exactly one output row and its bytes come back from the bucket through the surviving API;
// the surviving API streams (SSE) a job that a worker process runs.
// Also: capabilities follow the live workers' kinds, bad URLs at start give one line and
// exit 1, and the API recovers when the database restarts. Skips (with the reason) when
// PostgreSQL or tests/scale/node_modules are missing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { api, download, makePng, readEvents, removeDir, signup, startServer, tempDataDir, upload } from './lib/server.mjs';
import { runOma, s3Env, scaleAvailable, startPostgres, startS3, startWorker } from './lib/scale.mjs';

const why = scaleAvailable();
const env = { ...s3Env, OMA_JOB_LEASE_SECONDS: '3' };
let pg, s3;
const procs = [];
const dirs = [];

before(async () => {
  if (why) return;
  pg = startPostgres();
  s3 = await startS3();
});

after(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  if (s3) s3.stop();
  if (pg) pg.stop();
  for (const d of dirs) removeDir(d);
});

function dir(tag) {
  const d = tempDataDir(tag);
  dirs.push(d);
  return d;
}

async function serveApi(storage) {
  const s = await startServer({ dataDir: dir('scale-api'), workers: 0, env, args: ['--db', pg.url, '--storage', storage] });
  procs.push(s);
  return s;
}

async function worker(storage, opts = {}) {
  const w = await startWorker({ db: pg.url, storage, dataDir: dir('scale-w'), env, ...opts });
  procs.push(w);
  return w;
}

const available = async (base, name) =>
  (await api(base, 'GET', '/api/capabilities')).body.kinds.find((k) => k.name === name).available;

test('2 API + 3 worker processes: 50 jobs, a worker and an API process killed, every job done once', { skip: why || false, timeout: 300000 }, async () => {
  const storage = s3.storageUrl('multi');
  const a1 = await serveApi(storage);
  const a2 = await serveApi(storage);
  assert.equal(await available(a1.url, 'image.normalize'), false, 'no worker yet: nothing can run');
  const workers = [await worker(storage), await worker(storage, { kinds: 'image.*,pose.*' }), await worker(storage)];
  assert.equal(await available(a2.url, 'image.normalize'), true, 'a live worker offers it');
  /* a pool registers from its heartbeat thread, moments after the process is up */
  let kinds = '';
  for (let i = 0; i < 100 && kinds !== '*\n*\nimage.*,pose.*'; i++) {
    kinds = pg.psql('SELECT kinds FROM worker_pools ORDER BY kinds');
    if (kinds !== '*\n*\nimage.*,pose.*') await sleep(100);
  }
  assert.equal(kinds, '*\n*\nimage.*,pose.*', 'each pool says its kinds');

  const ids = [];
  const tokens = {};
  for (let a = 0; a < 3; a++) {
    const { token } = await signup(a % 2 ? a1.url : a2.url, `scale${a}`);
    const up = await upload(a1.url, token, makePng(800, 600, { noise: true, seed: a + 1 }), 'big.png');
    assert.equal(up.status, 201, up.text);
    for (let i = 0; i < (a < 2 ? 17 : 16); i++) {
      const j = await api(i % 2 ? a1.url : a2.url, 'POST', '/api/jobs', {
        token, body: { kind: 'image.normalize', params: { max_side: 500 - 8 * i, fit: 'contain' }, inputs: { image: up.body.id } },
      });
      assert.equal(j.status, 202, j.text);
      ids.push(j.body.id);
      tokens[j.body.id] = token;
    }
  }
  assert.equal(ids.length, 50);
  // progress of a job that runs in a worker process, streamed by an API process (it reads the row)
  const sse = readEvents(a2.url, `/api/jobs/${ids[49]}/events`, tokens[ids[49]], 240000);

  // catch worker 0 running a job, then kill it without warning
  let victimJob = null;
  const pid0 = String(workers[0].pid);
  for (let k = 0; k < 2000 && !victimJob; k++) {
    const rows = pg.psql("SELECT id || ' ' || worker_id FROM jobs WHERE status = 'running'").split('\n').filter(Boolean);
    for (const r of rows) {
      const [id, wid] = r.split(' ');
      if (wid.split(':')[1] === pid0) victimJob = id;
    }
    if (!victimJob) await sleep(20);
  }
  assert.ok(victimJob, 'worker 0 was caught running a job');
  workers[0].proc.kill('SIGKILL');
  assert.equal((await workers[0].exited).sig, 'SIGKILL');
  a1.proc.kill('SIGKILL');
  assert.equal((await a1.exited).sig, 'SIGKILL');

  const deadline = Date.now() + 180000;
  let jobs = [];
  while (Date.now() < deadline) {
    jobs = [];
    for (const id of ids) {
      try {
        jobs.push((await api(a2.url, 'GET', `/api/jobs/${id}`, { token: tokens[id] })).body);
      } catch (e) {
        throw new Error(`API 2 did not answer (${e.message}); its stderr: ${a2.stderr()}`);
      }
    }
    if (jobs.every((j) => ['succeeded', 'failed', 'cancelled'].includes(j.status))) break;
    await sleep(300);
  }
  for (const j of jobs) {
    assert.equal(j.status, 'succeeded', JSON.stringify(j));
    assert.equal(j.outputs.length, 1);
    assert.equal(j.outputs[0].name, 'image.png');
    assert.equal(j.attempts, j.id === victimJob ? 2 : 1, `attempts of ${j.id}`);
  }
  const ev = await sse;
  assert.equal(ev.status, 200);
  assert.equal(ev.events.at(-1).event, 'done');
  assert.equal(ev.events.at(-1).data.status, 'succeeded');
  assert.ok(ev.events.length >= 2, `state changes streamed (${ev.events.map((e) => e.data.status).join(',')})`);
  // one output row per job in the database, and its bytes in the bucket
  assert.equal(pg.psql('SELECT COUNT(*) FROM job_outputs'), '50');
  assert.equal(pg.psql('SELECT COUNT(*) FROM (SELECT job_id FROM job_outputs GROUP BY job_id HAVING COUNT(*) <> 1) x'), '0');
  for (const id of [victimJob, ids[0], ids[49]]) {
    const d = await download(a2.url, `/api/jobs/${id}/outputs/image.png`, tokens[id]);
    assert.equal(d.status, 200);
    assert.deepEqual([...d.bytes.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  }
  // the killed worker's pool stops counting; the others still offer their kinds
  assert.equal(pg.psql('SELECT COUNT(*) FROM worker_pools'), '3');
  await workers[2].stop('SIGTERM');
  assert.equal(pg.psql('SELECT COUNT(*) FROM worker_pools'), '2', 'a clean stop unregisters');
  await workers[1].stop('SIGTERM');
});

test('bad database or bucket at start: one line, exit 1', { skip: why || false }, async () => {
  const storage = s3.storageUrl('bad');
  const cases = [
    [['worker', '--db', 'postgres://oma:pw@127.0.0.1:1/oma', '--storage', storage], /^oma: worker: database: postgres: cannot connect/],
    [['worker', '--db', pg.url.replace('oma-test-pw', 'pw'), '--storage', storage], /password authentication failed/],
    [['worker', '--db', pg.url.replace(/\/oma$/, '/nosuchdb'), '--storage', storage], /does not exist/],
    [['worker', '--db', pg.url, '--storage', s3.storageUrl('x').replace('oma-test', 'no-bucket')], /^oma: worker: storage: s3: bucket no-bucket does not exist/],
    [['serve', '--port', '0', '--data', dir('bad'), '--db', 'postgres://oma@127.0.0.1:1/oma'], /^oma: serve: database: postgres: cannot connect/],
  ];
  for (const [args, re] of cases) {
    const r = await runOma(args);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!r.stderr.includes('pw@') && !r.stderr.includes(':pw'), 'no password in the message');
  }
});

test('the API fails while the database is down and recovers when it returns', { skip: why || false, timeout: 120000 }, async () => {
  const a = await serveApi(s3.storageUrl('outage'));
  const { token } = await signup(a.url, 'outage');
  assert.equal((await api(a.url, 'GET', '/api/me', { token })).status, 200);
  const bin = execFileSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1']).toString().trim();
  const asPg = process.getuid() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  const ctl = (...args) => execFileSync(asPg[0] || `${bin}/pg_ctl`, asPg.length ? [...asPg.slice(1), `${bin}/pg_ctl`, ...args] : args);
  ctl('-D', `${pg.dir}/data`, '-m', 'fast', '-w', 'stop');
  const down = await api(a.url, 'GET', '/api/me', { token });
  assert.equal(down.status, 503, `a request while the database is down: 503 (${down.text})`);
  assert.equal(down.body.error.code, 'unavailable');
  assert.equal(down.headers.get('retry-after'), '2');
  ctl('-D', `${pg.dir}/data`, '-l', `${pg.dir}/server.log`, '-w', 'start');
  let ok = 0;
  for (let k = 0; k < 20 && ok !== 200; k++) {
    ok = (await api(a.url, 'GET', '/api/me', { token })).status;
    if (ok !== 200) await sleep(250);
  }
  assert.equal(ok, 200, 'the same server answers again once the database is back');
  await a.stop();
});
