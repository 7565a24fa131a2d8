// pose.test.mjs — the pose job kinds against a real `oma serve`: upload a photo of a person
// (tests/data/pose/basketball1.png, fetched by scripts/fetch-test-data.sh, which `make test`
// runs), pose.estimate, follow its SSE stream to `done`, fetch pose.json (OpenPose: 18 body
// points x 3, canvas = the image's size) and skeleton.png (a PNG at the input size), then
// pose.render an edited pose and pose.warp the photo from the estimated to the edited pose.
// Bad params give 400 JSON errors. Without the photo or the pose models the estimation cases
// are skipped with the reason.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import zlib from 'node:zlib';

import { api, download, readEvents, removeDir, repoRoot, signup, startServer, tempDataDir, upload } from './lib/server.mjs';

const photo = path.join(process.env.OMA_SOURCE_DIR || repoRoot, 'tests', 'data', 'pose', 'basketball1.png');
let srv;
let dataDir;
const S = {};

// Width, height and the inflated pixel data of a PNG (8-bit, non-interlaced), checked whole.
function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
  let off = 8, w = 0, h = 0, ct = -1, depth = 0;
  const idat = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); depth = data[8]; ct = data[9]; }
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  assert.equal(depth, 8);
  const ch = { 0: 1, 2: 3, 4: 2, 6: 4 }[ct];
  assert.ok(ch, `colour type ${ct}`);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, h * (1 + w * ch), 'pixel data matches the header');
  return { w, h, ch };
}

async function runJob(token, body) {
  const r = await api(srv.url, 'POST', '/api/jobs', { token, body });
  assert.equal(r.status, 202, r.text);
  const ev = await readEvents(srv.url, `/api/jobs/${r.body.id}/events`, token, 120000);
  assert.equal(ev.status, 200);
  const done = ev.events.at(-1);
  assert.equal(done.event, 'done');
  assert.equal(done.data.status, 'succeeded', JSON.stringify(done.data.error));
  return done.data;
}

function assertError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type') || '', /application\/json/);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.message, 'string');
  assert.ok(r.body.error.message.length > 0);
}

before(async () => {
  dataDir = tempDataDir('pose');
  srv = await startServer({ dataDir, workers: 1 });
  S.a = await signup(srv.url, 'poser');
  const c = await api(srv.url, 'GET', '/api/capabilities');
  S.kinds = Object.fromEntries(c.body.kinds.map((k) => [k.name, k.available]));
});

after(async () => {
  if (srv) {
    const { code } = await srv.stop();
    assert.equal(code, 0, `clean exit (no leaks, no errors): ${srv.stderr()}`);
  }
  removeDir(dataDir);
});

test('pose.estimate on a photo: OpenPose JSON at the image size, skeleton PNG', async (t) => {
  if (!existsSync(photo)) return t.skip(`${photo} not fetched (run scripts/fetch-test-data.sh; make test does)`);
  if (!S.kinds['pose.estimate']) return t.skip('pose.estimate unavailable: the TFJS pose models are not installed (scripts/install-deps.sh)');
  const { token } = S.a;
  const png = readFileSync(photo);
  const { w, h } = decodePng(png);
  const up = await upload(srv.url, token, png, 'person.png');
  assert.equal(up.status, 201, up.text);
  S.upload = up.body.id;
  const job = await runJob(token, { kind: 'pose.estimate', params: { hands: true, face: true }, inputs: { image: S.upload } });
  assert.deepEqual(job.outputs.map((o) => o.name).sort(), ['overlay.png', 'pose.json', 'skeleton.png', 'wholebody.json']);
  assert.ok(job.result.people >= 1, 'the person is found');
  assert.equal(job.result.hands, true);
  assert.ok(job.result.hands_found >= job.result.hands_from_palm);
  const pj = await download(srv.url, `/api/jobs/${job.id}/outputs/pose.json`, token);
  assert.equal(pj.status, 200);
  const pose = JSON.parse(pj.bytes.toString('utf8'));
  assert.equal(pose.canvas_width, w);
  assert.equal(pose.canvas_height, h);
  assert.equal(pose.people.length, job.result.people);
  for (const p of pose.people) {
    assert.equal(p.pose_keypoints_2d.length, 18 * 3);
    for (const v of p.pose_keypoints_2d) assert.ok(Number.isFinite(v));
    for (const key of ['face_keypoints_2d', 'hand_left_keypoints_2d', 'hand_right_keypoints_2d'])
      assert.ok(Array.isArray(p[key]), key);
    if (p.face_keypoints_2d.length) assert.equal(p.face_keypoints_2d.length, 68 * 3);
    if (p.hand_left_keypoints_2d.length) assert.equal(p.hand_left_keypoints_2d.length, 21 * 3);
  }
  // the person's neck (point 1) is present and inside the canvas
  const b = pose.people[0].pose_keypoints_2d;
  assert.ok(b[5] > 0 && b[3] >= 0 && b[3] < w && b[4] >= 0 && b[4] < h, `neck at ${b.slice(3, 6)}`);
  const sk = await download(srv.url, `/api/jobs/${job.id}/outputs/skeleton.png`, token);
  assert.equal(sk.status, 200);
  assert.equal(sk.headers.get('content-type'), 'image/png');
  const dec = decodePng(sk.bytes);
  assert.equal(dec.w, w);
  assert.equal(dec.h, h);
  S.pose = pose;
  S.size = { w, h };
});

test('pose.render an edited pose, pose.warp the photo to it', async (t) => {
  if (!S.pose) return t.skip('no estimated pose (see the previous test)');
  const { token } = S.a;
  const edited = structuredClone(S.pose);
  const b = edited.people[0].pose_keypoints_2d;
  // raise both wrists (4, 7) by a tenth of the image where they are present
  for (const k of [4, 7]) if (b[k * 3 + 2] > 0) b[k * 3 + 1] = Math.max(0, b[k * 3 + 1] - S.size.h / 10);
  const r = await runJob(token, { kind: 'pose.render', params: { pose: edited } });
  assert.deepEqual(r.outputs.map((o) => o.name), ['skeleton.png']);
  assert.equal(r.result.width, S.size.w);
  assert.equal(r.result.height, S.size.h);
  const sk = await download(srv.url, `/api/jobs/${r.id}/outputs/skeleton.png`, token);
  const dec = decodePng(sk.bytes);
  assert.deepEqual([dec.w, dec.h], [S.size.w, S.size.h]);
  const wj = await runJob(token, { kind: 'pose.warp', params: { from: S.pose, to: edited }, inputs: { image: S.upload } });
  assert.deepEqual(wj.outputs.map((o) => o.name), ['image.png']);
  assert.equal(wj.result.width, S.size.w);
  assert.equal(wj.result.height, S.size.h);
  const im = await download(srv.url, `/api/jobs/${wj.id}/outputs/image.png`, token);
  const wd = decodePng(im.bytes);
  assert.deepEqual([wd.w, wd.h], [S.size.w, S.size.h]);
});

test('bad pose params are 400 JSON errors', async () => {
  const { token } = S.a;
  const post = (body) => api(srv.url, 'POST', '/api/jobs', { token, body });
  const pose = { canvas_width: 64, canvas_height: 64, people: [{ pose_keypoints_2d: Array(54).fill(0) }] };
  // pose.render needs no input image and is always available
  assertError(await post({ kind: 'pose.render', params: {} }), 400, 'invalid_params');
  assertError(await post({ kind: 'pose.render', params: { pose: 3 } }), 400, 'invalid_params');
  assertError(await post({ kind: 'pose.render', params: { pose: { ...pose, canvas_width: 100000 } } }), 400, 'invalid_params');
  assertError(await post({ kind: 'pose.render', params: { pose: { ...pose, people: [{ pose_keypoints_2d: [1, 2] }] } } }), 400, 'invalid_params');
  assertError(await post({ kind: 'pose.render', params: { pose, colour: 'red' } }), 400, 'invalid_params');
  if (S.kinds['pose.estimate']) {
    assertError(await post({ kind: 'pose.estimate', params: { hands: 'yes' } }), 400, 'invalid_params');
    assertError(await post({ kind: 'pose.estimate', params: { feet: true } }), 400, 'invalid_params');
    assertError(await post({ kind: 'pose.estimate', params: [] }), 400, 'invalid_params');
  }
  if (S.kinds['pose.warp']) {
    assertError(await post({ kind: 'pose.warp', params: { from: pose } }), 400, 'invalid_params');
    assertError(await post({ kind: 'pose.warp', params: { from: pose, to: pose, grid: 1000 } }), 400, 'invalid_params');
  }
});
