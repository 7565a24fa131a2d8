// onnx_ort_ref.mjs — reference outputs of an ONNX model from onnxruntime-node (npm, CPU), for
// the C runtime's tests: reads one float32 input (raw little-endian) of the given shape, runs
// the model and writes <prefix>.ref.txt ("out <name> <ndim> <dims...>" per output, in the
// model's output order) and <prefix>.ref.bin (the outputs' float32 values, concatenated).
//   node tools/onnx_ort_ref.mjs model.onnx input.bin 1,3,16,16 prefix
// Run from the repository root or tests/ (tests/package.json pins onnxruntime-node; `npm ci`
// there installs it, see tools/README.md). Graph optimisations are off so every op runs as
// written. models.test_onnx_rt runs this at test time.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.resolve('tests/package.json'));
let ort;
try { ort = require('onnxruntime-node'); } catch { ort = createRequire(path.resolve('package.json'))('onnxruntime-node'); }

const [model, input, shapeStr, prefix] = process.argv.slice(2);
const shape = shapeStr.split(',').map(Number);
const buf = fs.readFileSync(input);
const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
const sess = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', data, shape) };
const res = await sess.run(feeds);
let txt = '';
const parts = [];
for (const name of sess.outputNames) {
  const t = res[name];
  txt += `out ${name} ${t.dims.length} ${t.dims.join(' ')}\n`;
  parts.push(Buffer.from(new Float32Array(t.data).buffer));
}
fs.writeFileSync(prefix + '.ref.txt', txt);
fs.writeFileSync(prefix + '.ref.bin', Buffer.concat(parts));
console.log(`onnx_ort_ref: ${model}: ${sess.outputNames.length} outputs (onnxruntime-node ${require('onnxruntime-node/package.json').version})`);
