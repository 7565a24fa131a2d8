#!/usr/bin/env node
// pose_measure_table.mjs — the table of tools/pose_measure.sh: per category, people MoveNet
// MultiPose (tfjs) finds with >= 8 visible keypoints (score >= 0.3) and how many of them
// `oma pose estimate` finds, and PCK@0.10 / @0.03 of our 17 body points against MoveNet's.
// A reference person is matched to the unmatched person of ours that agrees on most of its
// visible points at 0.10 (at least half of them, else it counts as missed); a point agrees at
// t when ours is present (score >= 0.3) and within t x the longer side of the box around the
// reference person's visible points. Missed people's points count as wrong. Also: people
// MoveNet finds in all (any score >= 0.2), people we report, and our time per image.
// Usage: node tools/pose_measure_table.mjs OUTDIR    (OUTDIR as pose_measure.sh leaves it)
import fs from 'node:fs';
import path from 'node:path';

const dir = process.argv[2];
const SURE = 0.3;
const refs = fs.readFileSync(path.join(dir, 'reference.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const rows = fs.readFileSync(path.join(dir, 'ours.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
const cats = {};
const perImage = [];

function boxSide(kp) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const [x, y, c] of kp) if (c >= SURE) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  return Math.max(x1 - x0, y1 - y0, 1);
}

function agree(ref, ours, t) {
  const side = boxSide(ref);
  let n = 0, ok = 0;
  for (let k = 0; k < 17; k++) {
    if (ref[k][2] < SURE) continue;
    n++;
    const q = ours ? ours[k] : null;
    if (q && q[2] >= SURE && Math.hypot(q[0] - ref[k][0], q[1] - ref[k][1]) <= t * side) ok++;
  }
  return { n, ok };
}

for (const [cat, name, secs] of rows) {
  const ref = refs.find((r) => r.image === name + '.png');
  const wb = JSON.parse(fs.readFileSync(path.join(dir, name + '.wb.json'), 'utf8'));
  const ours = wb.people.map((p) => p.keypoints.slice(0, 17));
  const c = (cats[cat] ??= { images: 0, refAll: 0, ref8: 0, found8: 0, ours: 0, n: 0, ok10: 0, ok03: 0, secs: [] });
  c.images++;
  c.refAll += ref.people.length;
  c.ours += ours.length;
  c.secs.push(Number(secs));
  const used = new Set();
  let ref8 = 0, found8 = 0;
  for (const p of ref.people) {
    const visible = p.kp.filter((q) => q[2] >= SURE).length;
    if (visible < 8) continue;
    ref8++;
    let best = -1, bestOk = -1;
    ours.forEach((o, i) => { if (used.has(i)) return; const a = agree(p.kp, o, 0.10); if (a.ok > bestOk) { bestOk = a.ok; best = i; } });
    const a10 = agree(p.kp, null, 0.10);
    const matched = best >= 0 && bestOk * 2 >= a10.n;
    if (matched) { used.add(best); found8++; }
    const o = matched ? ours[best] : null;
    const r10 = agree(p.kp, o, 0.10), r03 = agree(p.kp, o, 0.03);
    c.n += r10.n; c.ok10 += r10.ok; c.ok03 += r03.ok;
  }
  c.ref8 += ref8; c.found8 += found8;
  perImage.push(`${cat.padEnd(8)} ${name.padEnd(34)} MoveNet ${ref.people.length} (${ref8} with >= 8 points), ours ${ours.length}, found ${found8}/${ref8}, ${Number(secs).toFixed(2)} s`);
}

console.log(perImage.join('\n'));
console.log('\n| category | images | people MoveNet finds (>= 8 visible points) | of those we find | people MoveNet finds (all) | people we report | PCK@0.10 | PCK@0.03 | our time per image (median) |');
console.log('|---|---|---|---|---|---|---|---|---|');
const tot = { images: 0, refAll: 0, ref8: 0, found8: 0, ours: 0, n: 0, ok10: 0, ok03: 0, secs: [] };
for (const [cat, c] of Object.entries(cats)) {
  for (const k of Object.keys(tot)) if (k === 'secs') tot.secs.push(...c.secs); else tot[k] += c[k];
  const med = c.secs.sort((a, b) => a - b)[Math.floor(c.secs.length / 2)];
  console.log(`| ${cat} | ${c.images} | ${c.ref8} | ${c.found8} | ${c.refAll} | ${c.ours} | ${c.n ? (c.ok10 / c.n).toFixed(3) : '-'} | ${c.n ? (c.ok03 / c.n).toFixed(3) : '-'} | ${med.toFixed(2)} s |`);
}
const med = tot.secs.sort((a, b) => a - b)[Math.floor(tot.secs.length / 2)];
console.log(`| all | ${tot.images} | ${tot.ref8} | ${tot.found8} | ${tot.refAll} | ${tot.ours} | ${tot.n ? (tot.ok10 / tot.n).toFixed(3) : '-'} | ${tot.n ? (tot.ok03 / tot.n).toFixed(3) : '-'} | ${med.toFixed(2)} s |`);
