// bad_inputs.test.mjs — hostile and broken requests all get a 4xx JSON error of the one
// shape, and the server stays up: malformed JSON, truncated PNG, a 50 MB upload (refused
// from its Content-Length before the body is read), a chunked over-limit body, a
// decompression-bomb PNG (refused from its header), '../' in paths, ids and names,
// missing/forged tokens, wrong methods.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';

import { api, makeBombPng, makePng, raw, removeDir, signup, startServer, tempDataDir, upload } from './lib/server.mjs';
import { backendName } from './lib/backend.mjs';

let srv;
let dataDir;
let alice;

function isError(r, status, code) {
  assert.equal(r.status, status, `${r.status} ${r.text}`);
  assert.equal(typeof r.body?.error?.message, 'string', r.text);
  if (code) assert.equal(r.body.error.code, code, r.text);
}

before(async () => {
  dataDir = tempDataDir('bad');
  srv = await startServer({ dataDir, workers: 1 });
  alice = await signup(srv.url, 'alice');
});

afterEach(async () => {
  const h = await api(srv.url, 'GET', '/api/health');
  assert.equal(h.status, 200, 'the server is still up');
});

after(async () => {
  if (srv) {
    const { code, sig } = await srv.stop('SIGTERM');
    assert.equal(sig, null, `server died of ${sig}`);
    assert.equal(code, 0, `server exit ${code}: ${srv.stderr()}`);
  }
  removeDir(dataDir);
});

test('malformed and wrong-shaped JSON', async () => {
  const t = alice.token;
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: '{"kind": "image.normalize",' }), 400, 'invalid_json');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: '[1,2,3]' }), 400, 'invalid_json');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: '' }), 400, 'invalid_json');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: '{"a":1,"a":2}' }), 400, 'invalid_json');
  isError(await api(srv.url, 'POST', '/api/auth/signup', { body: '\u0000\u0001' }), 400, 'invalid_json');
  isError(await api(srv.url, 'POST', '/api/auth/signup', { body: '['.repeat(100000) }), 400, 'invalid_json');
  isError(await api(srv.url, 'POST', '/api/auth/signup', { body: { email: 'x', password: 'short', name: '' } }), 400, 'bad_request');
  isError(await api(srv.url, 'POST', '/api/auth/signup', { body: { email: 'a@b.c', password: 12345678, name: 'n' } }), 400, 'bad_request');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: { kind: 'no.such.kind' } }), 400, 'unknown_kind');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: { kind: 'image.normalize', params: 'x' } }), 400, 'invalid_params');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: { kind: 'image.normalize', params: {} } }), 400, 'invalid_params');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: { kind: 'image.normalize', inputs: { image: 'ffff' } } }), 404, 'not_found');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: { kind: 'image.normalize', inputs: { image: 7 } } }), 400, 'invalid_params');
  isError(await api(srv.url, 'GET', '/api/jobs?limit=abc', { token: t }), 400, 'bad_request');
  // a JSON body over 1 MiB is refused from its Content-Length
  const big = JSON.stringify({ name: 'x'.repeat(1100000) });
  isError(await api(srv.url, 'POST', '/api/webtoons', { token: t, body: big }), 413, 'payload_too_large');
});

test('broken, foreign and oversized images', async () => {
  const t = alice.token;
  const png = makePng(64, 64, { noise: true });
  isError(await upload(srv.url, t, png.subarray(0, png.length - 200)), 400, 'image_invalid');
  isError(await upload(srv.url, t, png.subarray(0, 30)), 400, 'image_invalid');
  isError(await upload(srv.url, t, Buffer.from('GIF89a not accepted here')), 415, 'unsupported_media_type');
  isError(await upload(srv.url, t, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'x.svg', 'image/svg+xml'), 415, 'unsupported_media_type');
  const bomb = makeBombPng();
  assert.ok(bomb.length < 200000, 'the bomb is small on the wire');
  isError(await upload(srv.url, t, bomb, 'bomb.png'), 413, 'image_too_large');
  isError(await upload(srv.url, t, makeBombPng(8193, 16, 1 << 20)), 413, 'image_too_large');
  // not multipart / no file field / a broken multipart body
  isError(await api(srv.url, 'POST', '/api/uploads', { token: t, body: { file: 'x' } }), 415, 'unsupported_media_type');
  isError(await raw(srv.url, {
    method: 'POST', path: '/api/uploads', headers: { authorization: `Bearer ${t}`, 'content-type': 'multipart/form-data; boundary=XX' },
    body: '--XX\r\nContent-Disposition: form-data; name="other"\r\n\r\nv\r\n--XX--',
  }), 400, 'bad_request');
  isError(await raw(srv.url, {
    method: 'POST', path: '/api/uploads', headers: { authorization: `Bearer ${t}`, 'content-type': 'multipart/form-data; boundary=XX' },
    body: '--XX\r\nContent-Disposition: form-data; name="file"\r\n\r\n\x89PNG never closed',
  }), 400, 'bad_request');
  // an upload without a session is refused before its body is read
  isError(await upload(srv.url, null, png), 401, 'unauthorized');
});

test('a 50 MB upload gets 413: at once when the client waits for 100-continue', async () => {
  const headers = { authorization: `Bearer ${alice.token}`, 'content-type': 'multipart/form-data; boundary=XX' };
  const early = await raw(srv.url, { method: 'POST', path: '/api/uploads', size: 50 * 1000 * 1000, expect: true, headers });
  isError(early, 413, 'payload_too_large');
  assert.equal(early.sent, 0, 'the body was never sent');
  // a client that just sends: the body is drained (not kept) and the 413 follows
  const drained = await raw(srv.url, { method: 'POST', path: '/api/uploads', size: 50 * 1000 * 1000, headers });
  isError(drained, 413, 'payload_too_large');
  // far over the limit (200 MB announced): the server answers or closes, and stays up
  try {
    const huge = await raw(srv.url, { method: 'POST', path: '/api/uploads', size: 200 * 1000 * 1000, headers });
    isError(huge, 413, 'payload_too_large');
  } catch (e) {
    assert.ok(['ECONNRESET', 'EPIPE'].includes(e.code), String(e));
  }
  // the same rule for a session-less upload: 401 without reading a byte
  const anon = await raw(srv.url, { method: 'POST', path: '/api/uploads', size: 1000000, expect: true, headers: { 'content-type': headers['content-type'] } });
  isError(anon, 401, 'unauthorized');
  assert.equal(anon.sent, 0);
});

test('a chunked upload over 20 MiB gets 413 too', async () => {
  const r = await raw(srv.url, {
    method: 'POST', path: '/api/uploads', size: 21 * 1024 * 1024, chunked: true,
    headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'multipart/form-data; boundary=XX' },
  });
  isError(r, 413, 'payload_too_large');
});

test("'../' in paths, ids and names never escapes", async () => {
  const t = alice.token;
  const h = { authorization: `Bearer ${t}` };
  for (const p of [
    '/api/uploads/../../etc/passwd', '/api/uploads/..%2F..%2Fetc%2Fpasswd', '/api/uploads/..',
    '/api/jobs/abc/outputs/..%2F..%2Foma.db', '/api/jobs/abc/outputs/../../oma.db', '/api/assets/%2e%2e',
    '/api/webtoons/..%5C..%5Cx', '/api/jobs/ABCDEF',
  ]) {
    const r = await raw(srv.url, { path: p, headers: h });
    // an escaped '/' or '\\' is refused as a bad path (400), never split or decoded into one
    if (/%2F|%5C/i.test(p)) isError(r, 400, 'bad_request');
    else isError(r, 404, 'not_found');
  }
  for (const p of ['/../../etc/passwd', '/..%2F..%2Fetc%2Fpasswd', '/.env', '/assets/..%2F..%2Foma.db', '/%2e%2e/%2e%2e/etc/passwd']) {
    const r = await raw(srv.url, { path: p });
    assert.ok(r.status === 404 || r.status === 400 || (r.status === 200 && !/root:/.test(r.text)), `${p}: ${r.status}`);
    assert.ok(!/root:x:0:0/.test(r.text));
  }
  // an upload named like a path is stored by content, not by name
  const up = await upload(srv.url, t, makePng(8, 8), '../../../../tmp/evil.png');
  assert.equal(up.status, 201, up.text);
  assert.ok(!existsSync(path.join(dataDir, '..', 'evil.png')));
  if (backendName() !== 'pg+s3') { // on s3 the keys are in the bucket (same content-addressed keys)
    const stored = readdirSync(path.join(dataDir, 'store'), { recursive: true }).map(String);
    assert.ok(stored.every((k) => !k.includes('evil')), stored.join(','));
  }
  // an asset name with slashes and quotes downloads under a harmless file name
  const wt = await api(srv.url, 'POST', '/api/webtoons', { token: t, body: { name: '../../w' } });
  assert.equal(wt.status, 201);
  isError(await api(srv.url, 'POST', '/api/webtoons', { token: t, body: { name: 'x', description: 5 } }), 400, 'bad_request');
  isError(await api(srv.url, 'POST', `/api/webtoons/${wt.body.id}/samples`, { token: t, body: { upload_id: '../x' } }), 404, 'not_found');
  isError(await api(srv.url, 'POST', `/api/webtoons/${wt.body.id}/assets`, { token: t, body: { job_id: '../../x', name: 'a' } }), 404, 'not_found');
  isError(await api(srv.url, 'POST', '/api/jobs', { token: t, body: { kind: 'image.normalize', inputs: { '../image': up.body.id } } }), 400, 'invalid_params');
});

test('missing, forged and malformed tokens', async () => {
  isError(await api(srv.url, 'GET', '/api/me'), 401, 'unauthorized');
  isError(await api(srv.url, 'GET', '/api/me', { token: 'f'.repeat(64) }), 401, 'unauthorized');
  isError(await api(srv.url, 'GET', '/api/me', { token: alice.token.slice(0, 63) + (alice.token[63] === 'a' ? 'b' : 'a') }), 401, 'unauthorized');
  isError(await api(srv.url, 'GET', '/api/me', { token: "' OR '1'='1" }), 401, 'unauthorized');
  isError(await api(srv.url, 'GET', '/api/me', { cookie: 'oma_session=deadbeef' }), 401, 'unauthorized');
  isError(await api(srv.url, 'GET', '/api/me', { headers: { authorization: 'Basic YTpi' } }), 401, 'unauthorized');
  isError(await api(srv.url, 'GET', '/api/webtoons'), 401, 'unauthorized');
  isError(await api(srv.url, 'POST', '/api/auth/logout'), 401, 'unauthorized');
  const ok = await api(srv.url, 'GET', '/api/me', { token: alice.token });
  assert.equal(ok.status, 200);
});

test('wrong methods and unknown routes', async () => {
  const t = alice.token;
  const m1 = await api(srv.url, 'PUT', '/api/me', { token: t });
  isError(m1, 405, 'method_not_allowed');
  assert.match(m1.headers.get('allow'), /GET/);
  isError(await api(srv.url, 'DELETE', '/api/health'), 405, 'method_not_allowed');
  isError(await api(srv.url, 'PATCH', '/api/jobs', { token: t }), 405, 'method_not_allowed');
  isError(await api(srv.url, 'GET', '/api/auth/login'), 405, 'method_not_allowed');
  isError(await api(srv.url, 'POST', '/api/nope', { token: t, body: {} }), 404, 'not_found');
  isError(await api(srv.url, 'GET', '/api/jobs/0123/nope', { token: t }), 404, 'not_found');
  isError(await api(srv.url, 'POST', '/index.html'), 405, 'method_not_allowed');
});
