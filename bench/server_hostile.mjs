// server_hostile.mjs — issue 16 under load, for one or more `oma` binaries in the same run
// (give the one before the fix too, to get ratios on the same machine and moment):
//   node bench/server_hostile.mjs build/oma [/path/to/old/oma ...]
// Each binary is started on a throw-away data folder (no workers) and measured for:
//  1. GET /api/me latency (p50/p95 of 200 sequential keep-alive requests), idle;
//  2. the same while 50 connections (5 from each of 10 loopback addresses, each request with a
//     different X-Forwarded-For, as a botnet would) send wrong passwords for 7 accounts, each
//     connection one request per FLOOD_PAUSE_MS (100) after its answer; the flood's answers by
//     status, and one right log-in's latency and status 2 s later, still during the flood;
//     FLOOD=single: the 50 connections come from one address against one account instead;
//  3. 600 connections from 127.0.0.1 trickling a header line each 0.5 s, then 4 health
//     checks from 127.0.0.2 (3 s timeout each): how many are answered.
// Use release builds: the sanitizer build is several times slower.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const bins = process.argv.slice(2);
// each flood connection waits this long between its requests (so both servers face the same
// request rate whether they answer at once or not; 0 = as fast as answers come)
const FLOOD_PAUSE_MS = Number(process.env.FLOOD_PAUSE_MS ?? 100);
// FLOOD=single: all 50 connections from one address against one account (the case);
// FLOOD=botnet (default): every request from another address, against 7 accounts
const BOTNET = (process.env.FLOOD ?? 'botnet') !== 'single';
if (!bins.length) { console.error('usage: node bench/server_hostile.mjs OMA_BIN [OMA_BIN...]'); process.exit(2); }

function start(bin) {
  const data = mkdtempSync(path.join(tmpdir(), 'oma-hostile-'));
  const proc = spawn(bin, ['serve', '--port', '0', '--data', data, '--workers', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${bin} did not start: ${out}`)), 20000);
    const on = (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/([^:\s]+):(\d+)/);
      if (m) { clearTimeout(t); resolve({ proc, data, port: Number(m[2]) }); }
    };
    proc.stdout.on('data', on);
    proc.stderr.on('data', on);
  });
}

const agents = new Map();
function agentFor(local) {
  if (!agents.has(local)) agents.set(local, new http.Agent({ keepAlive: true, maxSockets: 5, localAddress: local }));
  return agents.get(local);
}

function request(port, method, p, { body, headers = {}, local = '127.0.0.2', timeout = 10000 } = {}) {
  return new Promise((resolve) => {
    const h = { ...headers };
    let data;
    if (body !== undefined) { data = JSON.stringify(body); h['content-type'] = 'application/json'; h['content-length'] = Buffer.byteLength(data); }
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers: h, agent: agentFor(local), timeout }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, text, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('timeout', () => { req.destroy(); resolve({ status: 0, ms: timeout }); });
    req.on('error', () => resolve({ status: -1, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    if (data) req.write(data);
    req.end();
  });
}

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };

async function meLatency(port, token, n = 200) {
  const ms = [];
  for (let i = 0; i < n; i++) ms.push((await request(port, 'GET', '/api/me', { headers: { authorization: `Bearer ${token}` } })).ms);
  return { p50: pct(ms, 0.5), p95: pct(ms, 0.95) };
}

async function measure(bin) {
  const srv = await start(bin);
  const { port } = srv;
  const su = await request(port, 'POST', '/api/auth/signup', { body: { email: 'real@example.com', password: 'the right one', name: 'Real' } });
  const token = JSON.parse(su.text).token;
  const idle = await meLatency(port, token);

  let stop = false, n = 0;
  const counts = {};
  const flood = [];
  for (let c = 0; c < 50; c++) {
    const local = `127.0.0.${10 + (c % 10)}`;   /* botnet: 5 connections per address */
    flood.push((async () => {
      while (!stop) {
        const k = n++;
        const r = BOTNET
          ? await request(port, 'POST', '/api/auth/login', {
            local, headers: { 'x-forwarded-for': `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}` },
            body: { email: `victim${k % 7}@example.com`, password: `guess ${k}` },
          })
          : await request(port, 'POST', '/api/auth/login', {
            local: '127.0.0.9', body: { email: 'victim@example.com', password: `guess ${k}` },
          });
        counts[r.status] = (counts[r.status] || 0) + 1;
        await new Promise((res) => setTimeout(res, FLOOD_PAUSE_MS));
      }
    })());
  }
  await new Promise((r) => setTimeout(r, 500));
  const during = await meLatency(port, token);
  await new Promise((r) => setTimeout(r, 2000));
  const login = await request(port, 'POST', '/api/auth/login', { body: { email: 'real@example.com', password: 'the right one' }, local: '127.0.0.3' });
  stop = true;
  await Promise.all(flood);

  // slow clients
  const socks = [];
  for (let i = 0; i < 600; i++) {
    const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    s.on('error', () => {});
    s.write('GET /api/health HTTP/1.1\r\n');
    socks.push(s);
  }
  const trickle = setInterval(() => { for (const s of socks) if (!s.destroyed) s.write('X-Slow: 1\r\n'); }, 500);
  await new Promise((r) => setTimeout(r, 1000));
  let answered = 0;
  for (let i = 0; i < 4; i++) {
    const r = await request(port, 'GET', '/api/health', { local: '127.0.0.4', timeout: 3000 });
    if (r.status === 200) answered++;
  }
  clearInterval(trickle);
  for (const s of socks) s.destroy();
  srv.proc.kill('SIGTERM');
  await new Promise((r) => srv.proc.on('exit', r));
  rmSync(srv.data, { recursive: true, force: true });
  return { idle, during, floodCounts: counts, floodTotal: n, login: { status: login.status, ms: login.ms }, healthAnswered: answered };
}

const results = [];
for (const bin of bins) {
  const r = await measure(bin);
  results.push([bin, r]);
  console.log(`== ${bin} (flood: ${BOTNET ? 'botnet' : 'single address, one account'}, pause ${FLOOD_PAUSE_MS} ms)`);
  console.log(`  GET /api/me idle:          p50 ${r.idle.p50.toFixed(2)} ms, p95 ${r.idle.p95.toFixed(2)} ms`);
  console.log(`  GET /api/me during flood:  p50 ${r.during.p50.toFixed(2)} ms, p95 ${r.during.p95.toFixed(2)} ms`);
  console.log(`  flood answers:             ${JSON.stringify(r.floodCounts)} (${r.floodTotal} requests)`);
  console.log(`  right log-in during flood: ${r.login.status} in ${r.login.ms.toFixed(0)} ms`);
  console.log(`  health checks from another address with 600 slow connections open: ${r.healthAnswered}/4 answered`);
}
if (results.length > 1) {
  const [a, b] = [results[0][1], results[1][1]];
  console.log(`== ratios (${results[0][0]} / ${results[1][0]})`);
  console.log(`  /api/me p50 during flood: ${(a.during.p50 / b.during.p50).toFixed(3)}, p95: ${(a.during.p95 / b.during.p95).toFixed(3)}`);
  console.log(`  right log-in during flood: ${(a.login.ms / b.login.ms).toFixed(3)}`);
}
for (const ag of agents.values()) ag.destroy();
