// pose_dwpose.test.mjs — pose.estimate with params.model "dwpose" against a real `oma serve`
// whose OMA_MODELS/dwpose holds the tiny DWPose models (tests/fixtures/onnx/dwpose: random
// weights at DWPose's real interfaces). The picture is models.test_dwpose's 1280x1280 formula
// image; the job's pose.json must hold the people DWPose's own Python found on it
// (tests/fixtures/onnx/dwpose_e2e.ref.bin, tools/make_dwpose_e2e_fixtures.py), body points and
// scores within 1e-3 (OpenPose 18: DWPose's 134-point order starts with them), and
// wholebody.json 133 points per person. /api/capabilities lists dwpose as available there, and
// not on a server whose folder has only one of the two files (where a dwpose job fails with a
// message naming both). A model name the kind does not know is a 400.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { makePng } from '../lib/png.mjs';
import { api, download, readEvents, removeDir, repoRoot, signup, startServer, tempDataDir, upload } from './lib/server.mjs';

const fixtures = path.join(process.env.OMA_SOURCE_DIR || repoRoot, 'tests', 'fixtures', 'onnx');
const servers = [];
const dirs = [];

// the image of tools/make_dwpose_e2e_fixtures.py (integer formula, as the C tests build it)
function formulaImage() {
  return makePng(1280, 1280, (x, y) => {
    const blk = y >= 240 && y < 1040 && x >= 400 && x < 720;
    return blk ? [230 - Math.trunc((y - 240) * 40 / 800), 40 + Math.trunc((x - 400) * 60 / 320), 40 + ((x ^ y) & 31)]
      : [Math.trunc(x * 255 / 1280), Math.trunc(y * 255 / 1280), (x ^ y) & 255];
  });
}

function reference() {
  const b = readFileSync(path.join(fixtures, 'dwpose_e2e.ref.bin'));
  const n = b.readInt32LE(0);
  const f = new Float32Array(b.buffer.slice(b.byteOffset + 4, b.byteOffset + b.length));
  assert.equal(f.length, n * 134 * 3);
  return { n, kp: f.subarray(0, n * 134 * 2), score: f.subarray(n * 134 * 2) };
}

async function serverWith(files) {
  const dataDir = tempDataDir('dwpose');
  const models = tempDataDir('dwpose-models');
  dirs.push(dataDir, models);
  mkdirSync(path.join(models, 'dwpose'), { recursive: true });
  for (const f of files) copyFileSync(path.join(fixtures, 'dwpose', f), path.join(models, 'dwpose', f));
  const srv = await startServer({ dataDir, workers: 1, env: { OMA_MODELS: models } });
  servers.push(srv);
  const c = await api(srv.url, 'GET', '/api/capabilities');
  assert.equal(c.status, 200);
  return { srv, caps: c.body, who: await signup(srv.url, 'dwposer') };
}

async function events(srv, token, id) {
  const ev = await readEvents(srv.url, `/api/jobs/${id}/events`, token, 300000);
  assert.equal(ev.status, 200);
  const done = ev.events.at(-1);
  assert.equal(done.event, 'done');
  return done.data;
}

const S = {};
before(async () => {
  S.full = await serverWith(['yolox_l.onnx', 'dw-ll_ucoco_384.onnx']);
  S.half = await serverWith(['yolox_l.onnx']);
});

after(async () => {
  for (const srv of servers) {
    const { code } = await srv.stop();
    assert.equal(code, 0, `clean exit (no leaks, no errors): ${srv.stderr()}`);
  }
  for (const d of dirs) removeDir(d);
});

test('capabilities: dwpose available only with both ONNX files', () => {
  const avail = (caps) => Object.fromEntries(caps.pose_models.map((m) => [m.name, m.available]));
  assert.deepEqual(S.full.caps.pose_models.map((m) => m.name), ['movenet-multipose', 'blazepose', 'dwpose']);
  assert.equal(avail(S.full.caps).dwpose, true);
  assert.equal(avail(S.half.caps).dwpose, false);
  const kind = S.full.caps.kinds.find((k) => k.name === 'pose.estimate');
  assert.equal(kind.available, true, 'pose.estimate runs when DWPose is there, TFJS models or not');
});

test('pose.estimate with model dwpose: the people of DWPose\'s own Python', async () => {
  const { srv, who: { token } } = S.full;
  const up = await upload(srv.url, token, formulaImage(), 'formula.png');
  assert.equal(up.status, 201, up.text);
  const r = await api(srv.url, 'POST', '/api/jobs', { token, body: { kind: 'pose.estimate', params: { model: 'dwpose' }, inputs: { image: up.body.id } } });
  assert.equal(r.status, 202, r.text);
  const job = await events(srv, token, r.body.id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
  assert.deepEqual(job.outputs.map((o) => o.name).sort(), ['overlay.png', 'pose.json', 'skeleton.png', 'wholebody.json']);
  assert.match(job.result.model, /^dwpose/);
  const ref = reference();
  assert.equal(job.result.people, ref.n);
  const pose = JSON.parse((await download(srv.url, `/api/jobs/${job.id}/outputs/pose.json`, token)).bytes.toString('utf8'));
  assert.equal(pose.canvas_width, 1280);
  assert.equal(pose.people.length, ref.n);
  let compared = 0;
  pose.people.forEach((p, i) => {
    assert.equal(p.pose_keypoints_2d.length, 18 * 3);
    for (let k = 0; k < 18; k++) {
      const [x, y, c] = p.pose_keypoints_2d.slice(k * 3, k * 3 + 3);
      const s = ref.score[i * 134 + k], rx = ref.kp[(i * 134 + k) * 2], ry = ref.kp[(i * 134 + k) * 2 + 1];
      if (s < 0.3) { assert.ok(!(c > 0), `person ${i} point ${k} absent`); continue; }
      assert.ok(Math.abs(x - rx) <= 1e-3 * (1 + Math.abs(rx)) && Math.abs(y - ry) <= 1e-3 * (1 + Math.abs(ry)) && Math.abs(c - s) <= 1e-3,
        `person ${i} point ${k}: ${[x, y, c]} vs DWPose ${[rx, ry, s]}`);
      compared++;
    }
    assert.equal(p.face_keypoints_2d.length, 68 * 3);
    assert.equal(p.hand_left_keypoints_2d.length, 21 * 3);
  });
  assert.ok(compared >= ref.n * 10, `${compared} body points compared`);
  const wb = JSON.parse((await download(srv.url, `/api/jobs/${job.id}/outputs/wholebody.json`, token)).bytes.toString('utf8'));
  assert.equal(wb.people.length, ref.n);
  for (const p of wb.people) assert.equal(p.keypoints.length, 133);
});

test('params.model is validated', async () => {
  const { srv, who: { token } } = S.full;
  for (const model of ['openpose', 3, '']) {
    const r = await api(srv.url, 'POST', '/api/jobs', { token, body: { kind: 'pose.estimate', params: { model } } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'invalid_params');
    assert.match(r.body.error.message, /dwpose/);
  }
});

test('dwpose without both files: a job asking for it fails with a message naming them', async (t) => {
  const { srv, who: { token } } = S.half;
  const post = (body) => api(srv.url, 'POST', '/api/jobs', { token, body });
  const kind = S.half.caps.kinds.find((k) => k.name === 'pose.estimate');
  if (!kind.available) {
    // no TFJS pose models here either: the kind is off altogether
    const r = await post({ kind: 'pose.estimate', params: { model: 'dwpose' } });
    assert.equal(r.status, 409, r.text);
    return t.skip('pose.estimate is unavailable without the TFJS models and DWPose (checked: 409)');
  }
  const up = await upload(srv.url, token, makePng(64, 64, () => [200, 200, 200]), 'grey.png');
  assert.equal(up.status, 201, up.text);
  const r = await post({ kind: 'pose.estimate', params: { model: 'dwpose' }, inputs: { image: up.body.id } });
  assert.equal(r.status, 202, r.text);
  const job = await events(srv, token, r.body.id);
  assert.equal(job.status, 'failed');
  assert.match(JSON.stringify(job.error), /yolox_l\.onnx.*dw-ll_ucoco_384\.onnx/);
});
