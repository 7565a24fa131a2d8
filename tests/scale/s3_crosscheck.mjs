// s3_crosscheck.mjs — AWS's own S3 client (@aws-sdk/client-s3, SigV4 by AWS's code) reading
// what the C driver wrote and writing what it reads, for tests/unit/server/test_storage_s3.c.
//   node s3_crosscheck.mjs ENDPOINT BUCKET get KEY      -> prints "<sha256 hex> <bytes>"
//   node s3_crosscheck.mjs ENDPOINT BUCKET put KEY N    -> stores N pattern bytes ((i*31+7)%251),
//                                                         prints "<sha256 hex> <bytes>"
//   node s3_crosscheck.mjs ENDPOINT BUCKET list PREFIX  -> prints the keys, one a line
// Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; path-style addressing.
import { createHash } from 'node:crypto';
import { S3Client, GetObjectCommand, PutObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';

const [endpoint, bucket, op, key, n] = process.argv.slice(2);
const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
const sha = (b) => createHash('sha256').update(b).digest('hex');
try {
  if (op === 'get') {
    const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const b = Buffer.from(await r.Body.transformToByteArray());
    console.log(`${sha(b)} ${b.length}`);
  } else if (op === 'put') {
    const b = Buffer.alloc(Number(n));
    for (let i = 0; i < b.length; i++) b[i] = (i * 31 + 7) % 251;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: b }));
    console.log(`${sha(b)} ${b.length}`);
  } else if (op === 'list') {
    let token;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, ContinuationToken: token }));
      for (const o of r.Contents || []) console.log(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  } else {
    console.error('usage: s3_crosscheck.mjs ENDPOINT BUCKET get|put|list KEY [N]');
    process.exit(2);
  }
} catch (e) {
  console.error(`s3_crosscheck: ${e.name}: ${e.message}`);
  process.exit(1);
}
