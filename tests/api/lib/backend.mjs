// backend.mjs — runs the API suite on the scale-out set-up when OMA_TEST_BACKEND=pg+s3 (ctest's
// api.*@pg variants): the first server a test file starts brings up a throw-away PostgreSQL
// cluster and an s3rver for the whole file (stopped at exit); every data folder gets its own
// database and bucket prefix, so a restart on the same folder finds its data again.
// Without the variable nothing changes: sqlite + the data folder.
import { createHash } from 'node:crypto';

let shared = null;

export function backendName() {
  return process.env.OMA_TEST_BACKEND === 'pg+s3' ? 'pg+s3' : 'sqlite+fs';
}

async function setUp() {
  const { s3Env, scaleAvailable, startPostgres, startS3 } = await import('./scale.mjs');
  const why = scaleAvailable();
  if (why) throw new Error(`OMA_TEST_BACKEND=pg+s3 cannot run here: ${why}`);
  const pg = startPostgres();
  const s3 = await startS3();
  process.on('exit', () => { s3.stop(); pg.stop(); });
  // a test file ended by a signal (the runner's timeout, ^C) still stops them
  for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => process.exit(128 + (sig === 'SIGTERM' ? 15 : 2)));
  return { pg, s3, env: s3Env };
}

// Extra `oma serve` arguments and environment for dataDir on the chosen backend; on pg+s3 also
// where its data lives: db { url, psql(sql) -> text } and s3 { endpoint, bucket, prefix }.
export async function backendFor(dataDir) {
  if (backendName() !== 'pg+s3') return { args: [], env: {} };
  if (!shared) shared = await setUp();
  const h = createHash('sha1').update(dataDir).digest('hex').slice(0, 20);
  const db = `d_${h}`;
  if (shared.pg.psql(`SELECT COUNT(*) FROM pg_database WHERE datname = '${db}'`) === '0') {
    shared.pg.psql(`CREATE DATABASE ${db}`);
  }
  const url = shared.pg.url.replace(/\/oma$/, `/${db}`);
  return {
    args: ['--db', url, '--storage', shared.s3.storageUrl(`p${h}`)], env: shared.env,
    db: { url, psql: (sql) => shared.pg.psql(sql, url) },
    s3: { endpoint: shared.s3.endpoint, bucket: 'oma-test', prefix: `p${h}` },
  };
}
