// fake_s3.mjs — a small S3-compatible server for the streaming tests, which s3rver cannot
// play: it can serve an object of any size generated as it goes (nothing kept), break a
// transfer midway, stall one, and it reports when the server's GET connection closes (so a
// test sees the transfer stop when its own client goes away). Path-style requests only; no
// signature checks (the real driver is checked against s3rver and AWS's signer elsewhere).
// Objects PUT are kept in memory; GET/HEAD/DELETE of one, HEAD of the bucket and a
// ListObjectsV2 of a prefix are answered, anything else is a 501.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

export const BLOCK = randomBytes(1 << 20); // a virtual object repeats this block

// sha256 hex of a virtual object of n bytes
export function virtualSha(n) {
  const h = createHash('sha256');
  let left = n;
  while (left > 0) {
    const k = Math.min(left, BLOCK.length);
    h.update(k === BLOCK.length ? BLOCK : BLOCK.subarray(0, k));
    left -= k;
  }
  return h.digest('hex');
}

// startFakeS3({ bucket }) -> { endpoint, storageUrl(prefix), objects, setVirtual(keySuffix, spec), gets, stop() }
// spec: { size, breakAt?, stallAt? } — size bytes of BLOCK repeated; breakAt: the connection is
// destroyed after that many body bytes; stallAt: nothing more is sent after that many bytes
// (until the connection closes). gets: one record a GET of a virtual object:
// { key, sent, closed (a promise of the bytes sent when the connection closed), finished }.
export function startFakeS3({ bucket = 'fake-bucket' } = {}) {
  const objects = new Map();     // "bucket/key" -> Buffer
  const virtual = new Map();     // key suffix -> spec
  const gets = [];
  const sockets = new Set();
  const find = (key) => { for (const [suffix, spec] of virtual) if (key.endsWith(suffix)) return spec; return null; };
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    const parts = decodeURIComponent(u.pathname).split('/').filter(Boolean);
    const b = parts.shift();
    const key = parts.join('/');
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (b !== bucket) { res.writeHead(404, { 'content-type': 'application/xml' }); res.end('<Error><Code>NoSuchBucket</Code></Error>'); return; }
      if (!key) {
        if (req.method === 'HEAD') { res.writeHead(200); res.end(); return; }
        if (req.method === 'GET' && u.searchParams.get('list-type') === '2') {
          const prefix = u.searchParams.get('prefix') || '';
          const keys = [...objects.keys()].map((k) => k.slice(bucket.length + 1)).filter((k) => k.startsWith(prefix)).sort();
          const body = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>${bucket}</Name><IsTruncated>false</IsTruncated>` +
            keys.map((k) => `<Contents><Key>${k}</Key><Size>${objects.get(`${bucket}/${k}`).length}</Size></Contents>`).join('') + '</ListBucketResult>';
          res.writeHead(200, { 'content-type': 'application/xml' });
          res.end(body);
          return;
        }
        res.writeHead(501); res.end(); return;
      }
      const full = `${bucket}/${key}`;
      const spec = find(key);
      if (req.method === 'PUT') {
        const body = Buffer.concat(chunks);
        objects.set(full, body);
        res.writeHead(200, { etag: `"${createHash('md5').update(body).digest('hex')}"` });
        res.end();
        return;
      }
      if (req.method === 'DELETE') { objects.delete(full); res.writeHead(204); res.end(); return; }
      if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(501); res.end(); return; }
      if (!spec && !objects.has(full)) {
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end(req.method === 'HEAD' ? undefined : '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
        return;
      }
      if (!spec) {
        const body = objects.get(full);
        res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
        res.end(req.method === 'HEAD' ? undefined : body);
        return;
      }
      res.writeHead(200, { 'content-length': spec.size, 'content-type': 'application/octet-stream' });
      if (req.method === 'HEAD') { res.end(); return; }
      const rec = { key, sent: 0, finished: false };
      let resolveClosed;
      rec.closed = new Promise((r) => { resolveClosed = r; });
      res.on('close', () => resolveClosed(rec.sent));
      gets.push(rec);
      const limit = Math.min(spec.size, spec.breakAt ?? Infinity, spec.stallAt ?? Infinity);
      const pump = () => {
        while (rec.sent < limit) {
          if (res.destroyed) return;
          const off = rec.sent % BLOCK.length;
          const k = Math.min(BLOCK.length - off, limit - rec.sent, 64 << 10);
          rec.sent += k;
          if (!res.write(BLOCK.subarray(off, off + k))) { res.once('drain', pump); return; }
        }
        if (rec.sent >= spec.size) { rec.finished = true; res.end(); return; }
        if (spec.breakAt !== undefined && rec.sent >= spec.breakAt) req.socket.destroy();
        // stallAt: send nothing more; the connection stays open until the other side closes it
      };
      pump();
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const endpoint = `http://127.0.0.1:${server.address().port}`;
      resolve({
        endpoint, objects, gets,
        storageUrl: (prefix) => `s3://${bucket}/${prefix}?endpoint=${endpoint}&region=us-east-1`,
        setVirtual: (suffix, spec) => virtual.set(suffix, spec),
        stop: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
      });
    });
  });
}
