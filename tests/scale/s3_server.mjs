// s3_server.mjs — an S3-compatible server for tests and benches: s3rver (npm) on a free
// localhost port, files in DIR, bucket BUCKET (default "oma-test") created. It accepts only its
// access key id S3RVER (secret S3RVER); it does not verify V4 signatures (s3rver 3.7 leaves that
// unimplemented), which test_sigv4 checks against AWS's examples and AWS's own signer.
// Usage: node tests/scale/s3_server.mjs DIR [BUCKET]  -> prints "s3rver http://127.0.0.1:PORT"
// when ready, runs until killed (SIGTERM/SIGINT close it).
import S3rver from 's3rver';

const [dir, bucket = 'oma-test'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node s3_server.mjs DIR [BUCKET]');
  process.exit(2);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: true,
  allowMismatchedSignatures: false,
  configureBuckets: [{ name: bucket }],
});
const { address, port } = await server.run();
console.log(`s3rver http://${address}:${port}`);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
