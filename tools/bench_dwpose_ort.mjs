// bench_dwpose_ort.mjs — the reference side of bench_dwpose_people: onnxruntime-node (pinned in
// tests/package.json, CPU) on the same two DWPose ONNX files, the same input sizes (the
// detector's 640x640 letterbox, the pose model's crop), default session options (all graph
// optimisations) with intra-op threads = OMA_THREADS (or all CPUs). Prints the median of N runs
// after one warm-up, in the same "dwpose_ort ..." line shape bench/run.sh turns into ratios.
//   node tools/bench_dwpose_ort.mjs MODELS_DIR [runs=3]
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ort = createRequire(path.join(here, '..', 'tests', 'package.json'))('onnxruntime-node');
const [dir, runsArg] = process.argv.slice(2);
const runs = Math.max(1, Math.min(64, Number(runsArg) || 3));
const threads = Number(process.env.OMA_THREADS) || os.cpus().length;

async function time(file, fallback) {
  const s = await ort.InferenceSession.create(path.join(dir, file), { intraOpNumThreads: threads, interOpNumThreads: 1 });
  const meta = s.inputNames[0];
  // the input shape is fixed in DWPose's files (and ours); fall back to the known one
  const shape = fallback;
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (Math.sin(i * 12.9898) * 43758.5453) % 1;
  const feeds = { [meta]: new ort.Tensor('float32', x, shape) };
  await s.run(feeds);
  const t = [];
  for (let i = 0; i < runs; i++) {
    const a = process.hrtime.bigint();
    await s.run(feeds);
    t.push(Number(process.hrtime.bigint() - a) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(runs / 2)];
}

const det = await time('yolox_l.onnx', [1, 3, 640, 640]);
const pose = await time('dw-ll_ucoco_384.onnx', [1, 3, 384, 288]);
console.log(`dwpose_ort detector ${det.toFixed(0)} ms  pose ${pose.toFixed(0)} ms/person  (onnxruntime-node ${createRequire(path.join(here, '..', 'tests', 'package.json'))('onnxruntime-node/package.json').version}, ${threads} threads, median of ${runs})`);
for (const n of [1, 2, 4, 9]) console.log(`dwpose_ort people ${n}  total ${((det + n * pose) / 1e3).toFixed(2)} s  = ${((det + n * pose) / 1e3 / n).toFixed(2)} s/person`);
