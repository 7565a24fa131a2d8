// jobs_events.test.mjs — job control through the API: cancelling a queued job (its SSE
// stream ends with `done` / cancelled), a client that drops its event stream mid-job,
// and SIGTERM while a stream is open (the server stops promptly and cleanly).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { api, makePng, readEvents, removeDir, signup, startServer, tempDataDir, upload } from './lib/server.mjs';

let srv, dataDir, token, uploadId;

before(async () => {
  dataDir = tempDataDir('events');
  srv = await startServer({ dataDir, workers: 1 });
  ({ token } = await signup(srv.url, 'ev'));
  const up = await upload(srv.url, token, makePng(1200, 900, { noise: true }));
  assert.equal(up.status, 201, up.text);
  uploadId = up.body.id;
});

after(async () => {
  if (srv) await srv.stop('SIGKILL');
  removeDir(dataDir);
});

async function queue(n) {
  const ids = [];
  for (let i = 0; i < n; i++) {
    const r = await api(srv.url, 'POST', '/api/jobs', { token, body: { kind: 'image.normalize', params: { max_side: 900 }, inputs: { image: uploadId } } });
    assert.equal(r.status, 202, r.text);
    ids.push(r.body.id);
  }
  return ids;
}

test('cancel a queued job; its stream ends with done/cancelled', async () => {
  const ids = await queue(4);
  const last = ids[ids.length - 1];
  const c = await api(srv.url, 'DELETE', `/api/jobs/${last}`, { token });
  assert.equal(c.status, 200);
  assert.equal(c.body.status, 'cancelled');
  const ev = await readEvents(srv.url, `/api/jobs/${last}/events`, token);
  assert.equal(ev.events.at(-1).event, 'done');
  assert.equal(ev.events.at(-1).data.status, 'cancelled');
  // the others still finish
  for (const id of ids.slice(0, -1)) {
    const e = await readEvents(srv.url, `/api/jobs/${id}/events`, token, 60000);
    assert.equal(e.events.at(-1).data.status, 'succeeded');
  }
  const again = await api(srv.url, 'DELETE', `/api/jobs/${last}`, { token });
  assert.equal(again.body.status, 'cancelled');
});

test('a client dropping its event stream does not hurt the server', async () => {
  const [id] = await queue(1);
  for (let i = 0; i < 5; i++) {
    const ac = new AbortController();
    const res = await fetch(`${srv.url}/api/jobs/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    const reader = res.body.getReader();
    await reader.read();
    ac.abort();
  }
  const e = await readEvents(srv.url, `/api/jobs/${id}/events`, token, 60000);
  assert.equal(e.events.at(-1).data.status, 'succeeded');
  assert.equal((await api(srv.url, 'GET', '/api/health')).status, 200);
});

test('SIGTERM with an open stream stops the server cleanly', async () => {
  const ids = await queue(3);
  const res = await fetch(`${srv.url}/api/jobs/${ids[2]}/events`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  await reader.read();
  const t0 = Date.now();
  const { code, sig } = await srv.stop('SIGTERM');
  assert.equal(sig, null);
  assert.equal(code, 0, srv.stderr());
  assert.ok(Date.now() - t0 < 20000, 'stopped promptly');
  // the stream ends (the server closed it)
  for (;;) { const { done } = await reader.read().catch(() => ({ done: true })); if (done) break; }
  srv = null;
});
