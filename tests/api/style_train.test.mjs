// style_train.test.mjs — the style.train job end to end on the tiny SD fixture model
// (tests/fixtures/sd/tiny-sd as OMA_MODELS): bad params are a 400 at submission; a run on a
// webtoon's samples streams stage/step/loss/eta_s and the loss history over SSE; the server is
// SIGKILLed mid-run and restarted on the same data folder; the job resumes from its last
// checkpoint (attempt 2, result.resumed_from) and finishes with a continuous loss history
// whose steps up to the checkpoint are exactly those streamed before the kill; the result is
// a "lora" style of the webtoon with its LoRA and embedding files; a second run is cancelled.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { api, download, makePng, removeDir, repoRoot, signup, startServer, tempDataDir, upload } from './lib/server.mjs';

const SOURCE = process.env.OMA_SOURCE_DIR || repoRoot;
const env = { OMA_MODELS: join(SOURCE, 'tests', 'fixtures', 'sd', 'tiny-sd'), OMA_JOB_LEASE_SECONDS: '3' };
const dataDir = tempDataDir('train');
let srv;

after(async () => {
  if (srv) await srv.stop('SIGKILL');
  removeDir(dataDir);
});

// Follows a job's SSE stream, calling onEvent(ev) for each event; resolves with every event
// when the stream ends (done, the server went away, or onEvent returned true: we hang up).
async function follow(base, id, token, onEvent = () => false, timeoutMs = 600000) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events = [];
  try {
    const res = await fetch(`${base}/api/jobs/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    assert.equal(res.status, 200);
    const dec = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body) {
      buf += dec.decode(chunk, { stream: true });
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (block.startsWith(':')) continue;
        const ev = { event: 'message', data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) ev.event = line.slice(7);
          else if (line.startsWith('data: ')) ev.data += line.slice(6);
        }
        ev.data = JSON.parse(ev.data);
        events.push(ev);
        if (onEvent(ev)) { ac.abort(); return events; }
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError' && !/terminated|fetch failed|other side closed/i.test(String(e.message) + String(e.cause))) throw e;
  } finally {
    clearTimeout(timer);
  }
  return events;
}

const PARAMS = { name: 'Night scenes', steps_ti: 6, steps_lora: 6, rank: 2, resolution: 64, grad_accum: 1, checkpoint_every: 2, sample_every: 4 };
const TOTAL = PARAMS.steps_ti + PARAMS.steps_lora;
const WINDOW = 50; // OMA_JOB_LOSS_WINDOW (server/jobs/jobs.h)

test('style.train: progress over SSE, SIGKILL mid-run, resume from the checkpoint, a lora style', async () => {
  srv = await startServer({ dataDir, workers: 1, env });
  const caps = await api(srv.url, 'GET', '/api/capabilities');
  const kind = caps.body.kinds.find((k) => k.name === 'style.train');
  assert.ok(kind, 'the server offers style.train');
  assert.equal(kind.available, true, `style.train needs the model in ${env.OMA_MODELS}`);

  const { token } = await signup(srv.url, 'trainer');
  const wt = await api(srv.url, 'POST', '/api/webtoons', { token, body: { name: 'Night Market' } });
  assert.equal(wt.status, 201, wt.text);
  const samples = [];
  for (let i = 0; i < 3; i++) {
    const up = await upload(srv.url, token, makePng(96, 80, { noise: true, seed: i + 1 }), `s${i}.png`);
    assert.equal(up.status, 201, up.text);
    samples.push(up.body.id);
    const add = await api(srv.url, 'POST', `/api/webtoons/${wt.body.id}/samples`, { token, body: { upload_id: up.body.id } });
    assert.ok(add.status < 300, add.text);
  }
  const submit = (params, inputs = { samples }) => api(srv.url, 'POST', '/api/jobs', { token, body: { kind: 'style.train', params, inputs, webtoon_id: wt.body.id } });

  // refused at submission
  for (const bad of [{}, { name: 'x', steps: 5 }, { name: 'x', rank: 0 }, { name: 'x', resolution: 100 }, { name: 'x', steps_ti: 0, steps_lora: 0 }, { name: 'x', lr_ti: -1 }]) {
    const r = await submit(bad);
    assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${r.text}`);
  }
  const noSamples = await submit(PARAMS, {});
  assert.equal(noSamples.status, 400, noSamples.text);

  const job = await submit(PARAMS);
  assert.equal(job.status, 202, job.text);
  const id = job.body.id;

  // follow until a few steps are done, then kill the server without warning
  let lastDetail = null;
  const seen = await follow(srv.url, id, token, (ev) => {
    if (ev.event === 'done') return true;
    const d = ev.data.detail;
    if (d && typeof d.total_step === 'number') lastDetail = d;
    return d && d.total_step >= 5;
  });
  assert.notEqual(seen.at(-1).event, 'done', 'the job finished before the kill: raise the step counts');
  assert.ok(lastDetail, 'progress events carry a detail object');
  for (const k of ['stage', 'step', 'steps', 'total_step', 'total_steps', 'loss', 'eta_s', 'losses']) assert.ok(k in lastDetail, `detail.${k}`);
  assert.ok(['ti', 'lora'].includes(lastDetail.stage));
  assert.equal(lastDetail.total_steps, TOTAL);
  assert.equal(typeof lastDetail.loss, 'number');
  srv.proc.kill('SIGKILL');
  await srv.exited;
  // what the row held at the kill (the last detail written)
  const before = lastDetail.losses;
  assert.ok(before.length >= 4);
  before.forEach(([s], i) => assert.equal(s, i + 1, 'steps 1.. each once'));

  srv = await startServer({ dataDir, workers: 1, env });
  const again = await api(srv.url, 'GET', `/api/jobs/${id}`, { token });
  assert.ok(again.body.detail && again.body.detail.losses.length >= 1, 'the curve is still there after the restart');
  // the whole history is one GET (a page opened mid-run starts from it)
  const hist = await api(srv.url, 'GET', `/api/jobs/${id}/losses`, { token });
  assert.equal(hist.status, 200);
  assert.equal(hist.body.losses.length, hist.body.loss_count);
  hist.body.losses.forEach(([s], i) => assert.equal(s, i + 1, 'GET losses: steps 1.. each once'));
  const { token: token2 } = await signup(srv.url, 'not-the-trainer');
  assert.equal((await api(srv.url, 'GET', `/api/jobs/${id}/losses`, { token: token2 })).status, 404, "another artist's job");
  let firstAfter = null;
  const events = await follow(srv.url, id, token, (ev) => {
    if (!firstAfter && ev.event === 'progress' && ev.data.status === 'running' && ev.data.detail?.resumed_from != null) firstAfter = ev.data.detail;
    return false;
  });
  // every event's detail is bounded: the latest WINDOW points, loss_count the total so far
  for (const ev of events) {
    const dl = ev.data?.detail;
    if (!dl || !Array.isArray(dl.losses)) continue;
    assert.ok(dl.losses.length <= WINDOW, `an event holds at most ${WINDOW} losses (${dl.losses.length})`);
    assert.ok(dl.loss_count >= dl.losses.length);
    if (dl.losses.length) assert.equal(dl.losses.at(-1)[0], dl.loss_count, 'the window ends at the latest step');
  }
  const done = events.at(-1);
  assert.equal(done.event, 'done');
  const fin = done.data;
  assert.equal(fin.status, 'succeeded', JSON.stringify(fin.error));
  assert.ok(fin.attempts >= 2, `attempts ${fin.attempts}`);
  const resumed = fin.result.resumed_from;
  assert.ok(Number.isInteger(resumed) && resumed >= PARAMS.checkpoint_every && resumed % PARAMS.checkpoint_every === 0,
    `resumed from a checkpoint step (${resumed})`);
  assert.ok(resumed <= before.length + PARAMS.checkpoint_every, 'not from a checkpoint it never reached');
  if (firstAfter) assert.ok(firstAfter.losses.length >= resumed, 'the resumed run showed the old curve from its first event');
  // the done event stays small: the result has the count, the curve is GET losses / losses.json
  assert.equal(fin.result.loss_count, TOTAL);
  assert.ok(!('losses' in fin.result), 'the done event carries no loss history');
  assert.ok(!fin.detail || !Array.isArray(fin.detail.losses) || fin.detail.losses.length <= WINDOW);
  const full = await api(srv.url, 'GET', `/api/jobs/${id}/losses`, { token });
  assert.equal(full.status, 200);
  const losses = full.body.losses;
  assert.equal(losses.length, TOTAL, 'GET losses returns every step once the job is done');
  assert.equal(full.body.loss_count, TOTAL);
  const lj = await download(srv.url, `/api/jobs/${id}/outputs/losses.json`, token);
  assert.equal(lj.status, 200);
  assert.deepEqual(JSON.parse(lj.bytes.toString('utf8')), losses, 'losses.json and GET losses agree');
  losses.forEach(([s, l], i) => { assert.equal(s, i + 1); assert.ok(Number.isFinite(l)); });
  for (let s = 1; s <= Math.min(resumed, before.length); s++) assert.equal(losses[s - 1][1], before[s - 1][1], `step ${s} kept as first reported`);

  const names = fin.outputs.map((o) => o.name);
  for (const n of ['Night_scenes.safetensors', 'Night_scenes.embedding.safetensors', 'losses.json', `sample-${String(TOTAL).padStart(6, '0')}.png`]) assert.ok(names.includes(n), `${n} in ${names}`);
  const file = await download(srv.url, `/api/jobs/${id}/outputs/Night_scenes.safetensors`, token);
  assert.equal(file.status, 200);
  const hlen = Number(file.bytes.readBigUInt64LE(0));
  const header = JSON.parse(file.bytes.subarray(8, 8 + hlen).toString('utf8'));
  assert.ok(Object.keys(header).some((k) => k.startsWith('lora_unet_')), 'a kohya LoRA');

  const styles = await api(srv.url, 'GET', `/api/webtoons/${wt.body.id}/styles`, { token });
  const st = styles.body.styles.find((s) => s.id === fin.result.style_id);
  assert.ok(st, 'the webtoon has the trained style');
  assert.equal(st.kind, 'lora');
  assert.equal(st.name, 'Night scenes');
  assert.equal(st.data.tokens, '<s1><s2>');

  // cancel a second run once it reports a step
  const j2 = await submit({ ...PARAMS, name: 'cancel me' });
  assert.equal(j2.status, 202, j2.text);
  await follow(srv.url, j2.body.id, token, (ev) => ev.event === 'done' || (ev.data.detail?.total_step ?? 0) >= 1);
  const c = await api(srv.url, 'DELETE', `/api/jobs/${j2.body.id}`, { token });
  assert.equal(c.status, 200);
  let final = null;
  for (let k = 0; k < 600 && !final; k++) {
    const r = await api(srv.url, 'GET', `/api/jobs/${j2.body.id}`, { token });
    if (['succeeded', 'failed', 'cancelled'].includes(r.body.status)) final = r.body;
    else await sleep(100);
  }
  assert.equal(final?.status, 'cancelled');
  const stop = await srv.stop('SIGTERM');
  assert.equal(stop.code, 0, srv.stderr());
  srv = null;
});
