// crash_recovery.test.mjs — nothing is lost when the server dies: queue several jobs,
// SIGKILL the server while one runs (others still queued), restart on the same data
// folder; every job finishes, and the interrupted one was re-run (attempts 2) after its
// lease ran out. The lease is shortened with OMA_JOB_LEASE_SECONDS so this takes seconds.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { api, makePng, removeDir, signup, startServer, tempDataDir, upload } from './lib/server.mjs';

const dataDir = tempDataDir('crash');
const env = { OMA_JOB_LEASE_SECONDS: '3' };
let srv;

after(async () => {
  if (srv) await srv.stop('SIGKILL');
  removeDir(dataDir);
});

test('jobs survive a SIGKILL of the server', async () => {
  srv = await startServer({ dataDir, workers: 1, env });
  const { token } = await signup(srv.url, 'crash');
  const up = await upload(srv.url, token, makePng(2400, 1800, { noise: true }), 'big.png');
  assert.equal(up.status, 201, up.text);
  const ids = [];
  for (let i = 0; i < 8; i++) {
    const j = await api(srv.url, 'POST', '/api/jobs', {
      token, body: { kind: 'image.normalize', params: { max_side: 1024 - 64 * i, fit: 'contain' }, inputs: { image: up.body.id } },
    });
    assert.equal(j.status, 202, j.text);
    ids.push(j.body.id);
  }
  // wait until some job is running, then kill the server without warning
  let running = null;
  for (let k = 0; k < 500 && !running; k++) {
    for (const id of ids) {
      const j = await api(srv.url, 'GET', `/api/jobs/${id}`, { token });
      if (j.body.status === 'running') { running = id; break; }
    }
  }
  const before = await Promise.all(ids.map((id) => api(srv.url, 'GET', `/api/jobs/${id}`, { token })));
  srv.proc.kill('SIGKILL');
  const { sig } = await srv.exited;
  assert.equal(sig, 'SIGKILL');
  const unfinished = before.filter((j) => j.body.status !== 'succeeded').length;
  assert.ok(unfinished > 0, 'the kill happened before every job was done');

  srv = await startServer({ dataDir, workers: 1, env });
  const me = await api(srv.url, 'GET', '/api/me', { token });
  assert.equal(me.status, 200, 'the session survived the restart');
  const deadline = Date.now() + 45000;
  let jobs = [];
  while (Date.now() < deadline) {
    jobs = (await Promise.all(ids.map((id) => api(srv.url, 'GET', `/api/jobs/${id}`, { token })))).map((r) => r.body);
    if (jobs.every((j) => j.status === 'succeeded' || j.status === 'failed')) break;
    await sleep(250);
  }
  for (const j of jobs) {
    assert.equal(j.status, 'succeeded', JSON.stringify(j));
    assert.equal(j.outputs[0].name, 'image.png');
  }
  // the job seen running just before the kill (if it had not finished in between) ran again
  assert.ok(running, 'a job was caught running');
  const was = before.find((x) => x.body.id === running).body.status;
  const j = jobs.find((x) => x.id === running);
  if (was === 'running') assert.ok(j.attempts >= 2, `the interrupted job ran again (attempts ${j.attempts})`);
  else assert.equal(was, 'succeeded');
  const stop = await srv.stop('SIGTERM');
  assert.equal(stop.code, 0);
  srv = null;
});
