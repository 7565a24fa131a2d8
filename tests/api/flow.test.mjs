// flow.test.mjs — the main path against a real `oma serve`: sign up, upload, run an
// image.normalize job, follow its SSE stream to 100 % and `done`, save the output as a
// webtoon asset, download it; a second artist gets 404 for every one of those ids;
// log out ends the session; cookie auth works like Bearer.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { readFileSync } from 'node:fs';

import { api, download, makePng, readEvents, removeDir, signup, startServer, tempDataDir, upload } from './lib/server.mjs';
import { backendName } from './lib/backend.mjs';

let srv;
let dataDir;
const S = {};

before(async () => {
  dataDir = tempDataDir('flow');
  srv = await startServer({ dataDir, workers: 1 });
});

after(async () => {
  if (srv) {
    const { code } = await srv.stop();
    assert.equal(code, 0, `clean exit (no leaks, no errors): ${srv.stderr()}`);
  }
  removeDir(dataDir);
});

test('health and capabilities need no session', async () => {
  const h = await api(srv.url, 'GET', '/api/health');
  assert.equal(h.status, 200);
  assert.equal(h.body.status, 'ok');
  assert.equal(h.body.db, backendName() === 'pg+s3' ? 'postgres' : 'sqlite');
  assert.equal(h.body.storage, backendName() === 'pg+s3' ? 's3' : 'fs');
  assert.equal(h.body.workers, 1);
  const c = await api(srv.url, 'GET', '/api/capabilities');
  assert.equal(c.status, 200);
  const norm = c.body.kinds.find((k) => k.name === 'image.normalize');
  assert.ok(norm, 'image.normalize is listed');
  assert.equal(norm.available, true);
  // the generate samplers, A1111's names in its order (scheduler_names.c)
  assert.deepEqual(c.body.samplers, ['DPM++ 2M Karras', 'DPM++ SDE Karras', 'DPM++ 2M SDE Karras', 'Euler a', 'Euler', 'LMS', 'Heun',
    'DPM2', 'DPM++ 2M', 'DDIM', 'PLMS', 'UniPC', 'LCM', 'TCD']);
  // the generate kinds' precision: the default the workers use (bf16 where the CPU has
  // AVX512_BF16, README "Speed on the CPU"), which must be one of the choices; fp32 is always one
  const cpuBf16 = /\bavx512_bf16\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  assert.ok(c.body.precision.choices.includes('fp32'));
  assert.ok(c.body.precision.choices.includes(c.body.precision.default));
  if (!process.env.OMA_PRECISION && c.body.precision.choices.includes('bf16')) {
    assert.equal(c.body.precision.default, cpuBf16 ? 'bf16' : 'fp32');
  }
});

test('sign up, log in, me, duplicate email', async () => {
  const a = await signup(srv.url, 'alice');
  S.a = a;
  assert.match(a.token, /^[0-9a-f]{64}$/);
  assert.match(a.cookie, /oma_session=[0-9a-f]{64}/);
  assert.match(a.cookie, /HttpOnly/);
  assert.match(a.cookie, /SameSite=Lax/);
  assert.match(a.cookie, /Path=\//);
  const me = await api(srv.url, 'GET', '/api/me', { token: a.token });
  assert.equal(me.status, 200);
  assert.equal(me.body.email, a.email);
  assert.equal(me.body.password_hash, undefined);
  const dup = await api(srv.url, 'POST', '/api/auth/signup', { body: { email: a.email.toUpperCase(), password: 'another password', name: 'x' } });
  assert.equal(dup.status, 409);
  assert.equal(dup.body.error.code, 'conflict');
  const bad = await api(srv.url, 'POST', '/api/auth/login', { body: { email: a.email, password: 'wrong password' } });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error.code, 'unauthorized');
  const ok = await api(srv.url, 'POST', '/api/auth/login', { body: { email: a.email, password: 'correct horse battery' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.artist.id, a.artist.id);
  // the cookie alone authenticates
  const cookie = ok.headers.get('set-cookie').split(';')[0];
  const viaCookie = await api(srv.url, 'GET', '/api/me', { cookie });
  assert.equal(viaCookie.status, 200);
  assert.equal(viaCookie.body.id, a.artist.id);
});

test('upload, job, SSE to 100 %, save as asset, download', async () => {
  const { token } = S.a;
  const png = makePng(96, 64);
  const up = await upload(srv.url, token, png, 'photo.png');
  assert.equal(up.status, 201, up.text);
  assert.equal(up.body.mime, 'image/png');
  assert.equal(up.body.width, 96);
  assert.equal(up.body.height, 64);
  assert.equal(up.body.bytes, png.length);
  assert.match(up.body.sha256, /^[0-9a-f]{64}$/);
  S.upload = up.body.id;
  const again = await upload(srv.url, token, png, 'again.png');
  assert.equal(again.status, 201);
  assert.equal(again.body.sha256, up.body.sha256);
  const meta = await api(srv.url, 'GET', `/api/uploads/${S.upload}`, { token });
  assert.equal(meta.status, 200);
  assert.equal(meta.body.id, S.upload);
  const file = await download(srv.url, `/api/uploads/${S.upload}/file`, token);
  assert.equal(file.status, 200);
  assert.equal(file.headers.get('content-type'), 'image/png');
  assert.ok(file.bytes.equals(png));

  const wt = await api(srv.url, 'POST', '/api/webtoons', { token, body: { name: 'Night Market', description: 'ep. 1' } });
  assert.equal(wt.status, 201);
  assert.deepEqual(wt.body.samples, []);
  S.webtoon = wt.body.id;
  const sample = await api(srv.url, 'POST', `/api/webtoons/${S.webtoon}/samples`, { token, body: { upload_id: S.upload } });
  assert.equal(sample.status, 201);
  assert.equal(sample.body.upload_id, S.upload);

  const job = await api(srv.url, 'POST', '/api/jobs', {
    token, body: { kind: 'image.normalize', params: { max_side: 48, fit: 'contain', multiple_of: 8 }, inputs: { image: S.upload }, webtoon_id: S.webtoon },
  });
  assert.equal(job.status, 202, job.text);
  assert.equal(job.body.kind, 'image.normalize');
  assert.ok(['queued', 'running', 'succeeded'].includes(job.body.status));
  S.job = job.body.id;

  const ev = await readEvents(srv.url, `/api/jobs/${S.job}/events`, token);
  assert.equal(ev.status, 200);
  assert.match(ev.contentType, /^text\/event-stream/);
  assert.ok(ev.events.length >= 2, JSON.stringify(ev.events));
  assert.equal(ev.events[0].event, 'progress');
  const last = ev.events[ev.events.length - 1];
  assert.equal(last.event, 'done');
  assert.equal(last.data.status, 'succeeded', JSON.stringify(last.data));
  assert.equal(last.data.id, S.job);
  const progress = ev.events.filter((e) => e.event === 'progress').map((e) => e.data.progress);
  assert.equal(Math.max(...progress), 1);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i] >= progress[i - 1], 'progress never goes back');
  assert.deepEqual(last.data.outputs.map((o) => o.name), ['image.png']);

  // a late subscriber still gets the current state, then done
  const late = await readEvents(srv.url, `/api/jobs/${S.job}/events`, token);
  assert.deepEqual(late.events.map((e) => e.event), ['progress', 'done']);
  assert.equal(late.events[0].data.progress, 1);

  const got = await api(srv.url, 'GET', `/api/jobs/${S.job}`, { token });
  assert.equal(got.status, 200);
  assert.equal(got.body.status, 'succeeded');
  const out = await download(srv.url, `/api/jobs/${S.job}/outputs/image.png`, token);
  assert.equal(out.status, 200);
  assert.equal(out.headers.get('content-type'), 'image/png');
  assert.equal(out.bytes.readUInt32BE(16), 48);   // IHDR width: 96x64 fit into 48
  assert.equal(out.bytes.readUInt32BE(20), 32);
  const list = await api(srv.url, 'GET', '/api/jobs?limit=5', { token });
  assert.equal(list.status, 200);
  assert.ok(list.body.jobs.some((j) => j.id === S.job));

  const asset = await api(srv.url, 'POST', `/api/webtoons/${S.webtoon}/assets`, {
    token, body: { job_id: S.job, name: 'market street', description: 'normalised photo' },
  });
  assert.equal(asset.status, 201, asset.text);
  assert.equal(asset.body.name, 'market street');
  assert.equal(asset.body.kind, 'image.normalize');
  assert.deepEqual(asset.body.inputs, [{ name: 'image', upload_id: S.upload }]);
  S.asset = asset.body.id;
  const assets = await api(srv.url, 'GET', `/api/webtoons/${S.webtoon}/assets?limit=10&offset=0`, { token });
  assert.equal(assets.status, 200);
  assert.equal(assets.body.total, 1);
  assert.equal(assets.body.assets[0].id, S.asset);
  const dl = await download(srv.url, `/api/assets/${S.asset}/file`, token);
  assert.equal(dl.status, 200);
  assert.ok(dl.bytes.equals(out.bytes));
  assert.equal(dl.headers.get('content-disposition'), 'attachment; filename="market street.png"');
  const wget = await api(srv.url, 'GET', `/api/webtoons/${S.webtoon}`, { token });
  assert.equal(wget.status, 200);
  assert.equal(wget.body.samples.length, 1);
  assert.equal(wget.body.samples[0].upload_id, S.upload);
  const styles = await api(srv.url, 'GET', `/api/webtoons/${S.webtoon}/styles`, { token });
  assert.equal(styles.status, 200);
  assert.deepEqual(styles.body.styles, []);
});

test('a second artist gets 404 for everything of the first', async () => {
  const b = await signup(srv.url, 'bob');
  const t = b.token;
  const gets = [
    `/api/uploads/${S.upload}`, `/api/uploads/${S.upload}/file`, `/api/webtoons/${S.webtoon}`,
    `/api/webtoons/${S.webtoon}/styles`, `/api/webtoons/${S.webtoon}/assets`, `/api/jobs/${S.job}`,
    `/api/jobs/${S.job}/events`, `/api/jobs/${S.job}/preview`, `/api/jobs/${S.job}/outputs/image.png`,
    `/api/assets/${S.asset}`, `/api/assets/${S.asset}/file`,
  ];
  for (const p of gets) {
    const r = await api(srv.url, 'GET', p, { token: t });
    assert.equal(r.status, 404, `${p}: ${r.status} ${r.text}`);
    assert.equal(r.body.error.code, 'not_found', p);
  }
  const writes = [
    ['DELETE', `/api/webtoons/${S.webtoon}`], ['DELETE', `/api/assets/${S.asset}`], ['DELETE', `/api/jobs/${S.job}`],
    ['DELETE', `/api/webtoons/${S.webtoon}/samples/${S.upload}`],
    ['POST', `/api/webtoons/${S.webtoon}/samples`, { upload_id: S.upload }],
    ['POST', `/api/webtoons/${S.webtoon}/assets`, { job_id: S.job, name: 'stolen' }],
    ['POST', '/api/jobs', { kind: 'image.normalize', inputs: { image: S.upload } }],
  ];
  for (const [m, p, body] of writes) {
    const r = await api(srv.url, m, p, { token: t, body });
    assert.equal(r.status, 404, `${m} ${p}: ${r.status} ${r.text}`);
  }
  // bob's own webtoon cannot take alice's job or upload either
  const mine = await api(srv.url, 'POST', '/api/webtoons', { token: t, body: { name: 'mine' } });
  assert.equal(mine.status, 201);
  const steal = await api(srv.url, 'POST', `/api/webtoons/${mine.body.id}/assets`, { token: t, body: { job_id: S.job, name: 'x' } });
  assert.equal(steal.status, 404);
  const lists = await api(srv.url, 'GET', '/api/webtoons', { token: t });
  assert.deepEqual(lists.body.webtoons.map((w) => w.id), [mine.body.id]);
  const jobs = await api(srv.url, 'GET', '/api/jobs', { token: t });
  assert.deepEqual(jobs.body.jobs, []);
  // and nothing of alice's was touched
  const still = await api(srv.url, 'GET', `/api/assets/${S.asset}`, { token: S.a.token });
  assert.equal(still.status, 200);
});

test('assets are paged, newest first; every asset appears exactly once', async () => {
  const { token } = S.a;
  const wt = await api(srv.url, 'POST', '/api/webtoons', { token, body: { name: 'Paged' } });
  assert.equal(wt.status, 201);
  const made = [];
  for (let i = 0; i < 5; i++) {
    const a = await api(srv.url, 'POST', `/api/webtoons/${wt.body.id}/assets`, { token, body: { job_id: S.job, output: 'image.png', name: `shot ${i}` } });
    assert.equal(a.status, 201, a.text);
    made.push(a.body.id);
  }
  const seen = [];
  for (let offset = 0; offset < 6; offset += 2) {
    const page = await api(srv.url, 'GET', `/api/webtoons/${wt.body.id}/assets?limit=2&offset=${offset}`, { token });
    assert.equal(page.status, 200);
    assert.equal(page.body.total, 5);
    assert.equal(page.body.limit, 2);
    assert.equal(page.body.offset, offset);
    assert.ok(page.body.assets.length <= 2);
    seen.push(...page.body.assets.map((a) => a.id));
  }
  assert.deepEqual([...seen].sort(), [...made].sort());
  // Saved within the same second, still newest first (the order the gallery shows).
  assert.deepEqual(seen, [...made].reverse());
  const missing = await api(srv.url, 'POST', `/api/webtoons/${wt.body.id}/assets`, { token, body: { job_id: S.job, output: 'nope.png', name: 'x' } });
  assert.equal(missing.status, 404);
  const bad = await api(srv.url, 'GET', `/api/webtoons/${wt.body.id}/assets?limit=0`, { token });
  assert.equal(bad.status, 400);
  assert.equal((await api(srv.url, 'DELETE', `/api/webtoons/${wt.body.id}`, { token })).status, 204);
  for (const id of made) assert.equal((await api(srv.url, 'GET', `/api/assets/${id}`, { token })).status, 404, 'assets go with their webtoon');
});

test('delete asset, sample and webtoon; cancel a finished job is a no-op', async () => {
  const { token } = S.a;
  const c = await api(srv.url, 'DELETE', `/api/jobs/${S.job}`, { token });
  assert.equal(c.status, 200);
  assert.equal(c.body.status, 'succeeded');
  assert.equal((await api(srv.url, 'DELETE', `/api/assets/${S.asset}`, { token })).status, 204);
  assert.equal((await api(srv.url, 'GET', `/api/assets/${S.asset}`, { token })).status, 404);
  assert.equal((await api(srv.url, 'DELETE', `/api/webtoons/${S.webtoon}/samples/${S.upload}`, { token })).status, 204);
  assert.equal((await api(srv.url, 'DELETE', `/api/webtoons/${S.webtoon}`, { token })).status, 204);
  assert.equal((await api(srv.url, 'GET', `/api/webtoons/${S.webtoon}`, { token })).status, 404);
});

test('logout ends the session', async () => {
  const { token } = S.a;
  const out = await api(srv.url, 'POST', '/api/auth/logout', { token });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie'), /Max-Age=0/);
  const me = await api(srv.url, 'GET', '/api/me', { token });
  assert.equal(me.status, 401);
  assert.equal(me.body.error.code, 'unauthorized');
});
