// sigv4_sdk.mjs — AWS's own SigV4 signer (@smithy/signature-v4, the one inside
// @aws-sdk/client-s3) over N pseudo-random S3-style requests, for test_sigv4's cross-check.
// Prints one request a line, tab-separated:
//   method, host, raw path, query (raw, unsorted: key US value, pairs joined by RS), amz date,
//   region, access key, secret, payload sha256, extra header (name US value, or "-"), and the
//   SDK's Authorization value. (US = \x1f, RS = \x1e)
// Usage: node sigv4_sdk.mjs N SEED
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

class Sha256 {
  constructor(secret) { this.h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
  update(d) { this.h.update(typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d)); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

const n = Number(process.argv[2] || 20);
let seed = Number(process.argv[3] || 1);
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const chars = 'abcXYZ019-._~ !$&+,;=@é/%';
const word = (k) => Array.from({ length: 1 + Math.floor(rnd() * k) }, () => pick([...chars])).join('');
// S3 does not normalise or double-encode the path: escape every byte but unreserved and '/'
const encPath = (p) => Buffer.from(p, 'utf8').reduce((s, b) => {
  const c = String.fromCharCode(b);
  return s + (/[A-Za-z0-9\-._~\/]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0'));
}, '');

for (let i = 0; i < n; i++) {
  const method = pick(['GET', 'PUT', 'POST', 'DELETE', 'HEAD']);
  const path = '/' + pick(['oma-test', 'bucket.with.dots']) + '/' + word(12) + '/' + word(8);
  const q = {};
  const nq = Math.floor(rnd() * 3);
  for (let j = 0; j < nq; j++) q[pick(['prefix', 'list-type', 'uploadId', 'partNumber', 'continuation-token'])] = word(10);
  const date = new Date(Date.UTC(2020 + Math.floor(rnd() * 6), Math.floor(rnd() * 12), 1 + Math.floor(rnd() * 28),
    Math.floor(rnd() * 24), Math.floor(rnd() * 60), Math.floor(rnd() * 60)));
  const region = pick(['us-east-1', 'eu-west-3', 'garage']);
  const ak = 'AK' + Math.floor(rnd() * 1e9), sk = 'sk/' + word(20);
  const payload = createHash('sha256').update(word(30)).digest('hex');
  const extra = rnd() < 0.5 ? ['x-amz-security-token', ' tok  ' + Math.floor(rnd() * 1e6) + ' '] : null;
  const headers = { host: pick(['127.0.0.1:4569', 's3.amazonaws.com']), 'x-amz-content-sha256': payload };
  if (extra) headers[extra[0]] = extra[1];
  const signer = new SignatureV4({ credentials: { accessKeyId: ak, secretAccessKey: sk }, region, service: 's3',
    sha256: Sha256, uriEscapePath: false, applyChecksum: false });
  const signed = await signer.sign({ method, protocol: 'http:', hostname: 'h', path: encPath(path), query: q, headers },
    { signingDate: date });
  const qs = Object.entries(q).map(([k, v]) => `${k}\x1f${v}`).join('\x1e');
  const amz = signed.headers['x-amz-date'];
  console.log([method, headers.host, path, qs, amz, region, ak, sk, payload, extra ? `${extra[0]}\x1f${extra[1]}` : '-',
    signed.headers.authorization].join('\t'));
}
