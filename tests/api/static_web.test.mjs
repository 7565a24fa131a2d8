// static_web.test.mjs — the web app is served from --web DIR at /: files with their
// Content-Type, hashed assets cacheable, client-side routes fall back to index.html,
// missing assets and API paths stay 404 JSON, dot-files and '../' are never served, and
// without a built app / explains how to build it.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { raw, removeDir, startServer, tempDataDir } from './lib/server.mjs';

let web, dataDir, srv, bare;

before(async () => {
  web = tempDataDir('web');
  dataDir = tempDataDir('webdata');
  mkdirSync(path.join(web, 'assets'));
  writeFileSync(path.join(web, 'index.html'), '<!doctype html><div id="root">OMA-INDEX</div>');
  writeFileSync(path.join(web, 'assets', 'app-1234.js'), 'console.log("app")');
  writeFileSync(path.join(web, 'assets', 'app-1234.css'), 'body{}');
  writeFileSync(path.join(web, 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(path.join(web, '.secret'), 'hidden');
  writeFileSync(path.join(dataDir, 'outside.txt'), 'outside the web folder');
  symlinkSync(path.join(dataDir, 'outside.txt'), path.join(web, 'link.txt'));
  srv = await startServer({ dataDir, workers: 0, args: ['--web', web] });
  bare = await startServer({ dataDir: tempDataDir('bare'), workers: 0, args: ['--web', path.join(web, 'missing')] });
});

after(async () => {
  if (srv) await srv.stop();
  if (bare) await bare.stop();
  removeDir(web);
  removeDir(dataDir);
});

test('files, types and caching', async () => {
  const idx = await fetch(`${srv.url}/`);
  assert.equal(idx.status, 200);
  assert.match(idx.headers.get('content-type'), /^text\/html/);
  assert.match(await idx.text(), /OMA-INDEX/);
  const js = await fetch(`${srv.url}/assets/app-1234.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.match(js.headers.get('cache-control'), /immutable/);
  assert.equal(await js.text(), 'console.log("app")');
  assert.match((await fetch(`${srv.url}/assets/app-1234.css`)).headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(`${srv.url}/logo.svg`)).headers.get('content-type'), 'image/svg+xml');
});

test('SPA fallback, but not for assets or the API', async () => {
  for (const p of ['/gallery', '/webtoons/abc/assets', '/pose']) {
    const r = await fetch(srv.url + p);
    assert.equal(r.status, 200, p);
    assert.match(await r.text(), /OMA-INDEX/);
  }
  const miss = await fetch(`${srv.url}/assets/missing-1.js`);
  assert.equal(miss.status, 404);
  const api = await fetch(`${srv.url}/api/unknown`);
  assert.equal(api.status, 404);
  assert.equal((await api.json()).error.code, 'not_found');
});

test('no dot-files, symlinks or traversal', async () => {
  for (const p of ['/.secret', '/link.txt', '/../outside.txt', '/assets/../../outside.txt', '/%2e%2e/outside.txt', '/assets/%2e%2e%2f%2e%2e%2foutside.txt']) {
    const r = await raw(srv.url, { path: p });
    assert.ok(!/hidden|outside the web folder/.test(r.text), `${p} leaked: ${r.text}`);
    // an escaped slash is a bad path (400), never a separator
    assert.ok(r.status === 404 || (r.status === 400 && /%2f/i.test(p)) || /OMA-INDEX/.test(r.text), `${p}: ${r.status}`);
  }
});

test('without a built app, / says how to build it', async () => {
  const r = await fetch(`${bare.url}/`);
  assert.equal(r.status, 200);
  assert.match(await r.text(), /make web/);
  const h = await fetch(`${bare.url}/api/health`);
  assert.equal(h.status, 200);
});
