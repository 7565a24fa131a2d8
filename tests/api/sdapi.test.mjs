// sdapi.test.mjs — the AUTOMATIC1111-compatible API (/sdapi/v1) as its clients use it, on the
// tiny SD fixture model: node-sd-webui (a third-party A1111 client from npm) makes txt2img,
// img2img and png-info calls unchanged (its fetch given the artist's API token, as a proxy
// would); raw requests check A1111's defaults, response shapes and errors, HTTP Basic and Bearer
// API tokens, two clients at once (while the server keeps answering), an interrupt mid-run with
// /progress's preview, the listings, per-artist options, and that the PNG "parameters" text
// parses by A1111's own rules (its parse_generation_parameters, ported in
// lib/a1111_infotext.mjs) to what /png-info answers and to what was asked.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import sdwebui from 'node-sd-webui';
import { pngWithText } from '../lib/png.mjs';
import { parseGenerationParameters } from './lib/a1111_infotext.mjs';
import { api, makePng, removeDir, repoRoot, signup, startServer, tempDataDir } from './lib/server.mjs';

const SOURCE = process.env.OMA_SOURCE_DIR || repoRoot;
const dataDir = tempDataDir('sdapi');
const models = join(dataDir, 'models');
let srv, base, artist, token;

// A models folder as A1111 users keep one: two checkpoints (the same tiny model twice), a LoRA
// and an embedding (a safetensors file with one [2, 48] tensor).
function makeModels() {
  mkdirSync(join(models, 'Lora'), { recursive: true });
  mkdirSync(join(models, 'embeddings'), { recursive: true });
  const tiny = join(SOURCE, 'tests', 'fixtures', 'sd', 'tiny-sd');
  symlinkSync(tiny, join(models, 'tiny-sd'));
  symlinkSync(tiny, join(models, 'tiny-sd-copy'));
  writeFileSync(join(models, 'Lora', 'ink-lines.safetensors'), 'not read by the listing');
  const header = Buffer.from(JSON.stringify({ emb_params: { dtype: 'F32', shape: [2, 48], data_offsets: [0, 384] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  writeFileSync(join(models, 'embeddings', 'night-sky.safetensors'), Buffer.concat([len, header, Buffer.alloc(384)]));
}

const auth = (t = token) => ({ authorization: `Bearer ${t}` });
const basic = (user, pass) => ({ authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` });

async function sd(method, p, { body, headers = auth() } = {}) {
  const res = await fetch(base + p, {
    method,
    headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, body: json, text };
}

const SMALL = { width: 64, height: 64, steps: 2, sampler_name: 'DDIM' };

/* Calls check up to `tries` times, `everyMs` apart, until it gives something other than
 * undefined, and gives that (undefined when it never did). */
async function poll(check, tries, everyMs) {
  for (let i = 0; i < tries; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  return undefined;
}

/* The id of the job that /progress shows at sampling step minStep or later (polled every 50 ms,
 * up to 100 s), or undefined. */
const runningTask = (minStep) => poll(async () => {
  const p = await sd('GET', '/sdapi/v1/progress');
  return p.body.state.sampling_step >= minStep ? p.body.current_task || undefined : undefined;
}, 2000, 50);

/* Job id once it has ended (polled every 250 ms, up to 150 s); the last answer when it had not. */
async function endedJob(id) {
  let job;
  await poll(async () => {
    job = (await api(base, 'GET', `/api/jobs/${id}`, { token })).body;
    return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
  }, 600, 250);
  return job;
}

before(async () => {
  makeModels();
  srv = await startServer({ dataDir, workers: 1, env: { OMA_MODELS: models } });
  base = srv.url;
  artist = await signup(base, 'a1111');
  const t = await api(base, 'POST', '/api/tokens', { token: artist.token, body: { name: 'my bot' } });
  assert.equal(t.status, 201, t.text);
  assert.match(t.body.token, /^oma_[0-9a-f]{64}$/);
  token = t.body.token;
});

after(async () => {
  // a clean stop, so that the test build's sanitizers (ASan, LeakSanitizer, UBSan) report
  if (srv) await srv.stop('SIGTERM');
  const log = srv ? srv.stderr() : '';
  removeDir(dataDir);
  assert.doesNotMatch(log, /AddressSanitizer|LeakSanitizer|runtime error:/, log);
});

test('API tokens: listed without their secret, Bearer and Basic work, a revoked one does not', async () => {
  const list = await api(base, 'GET', '/api/tokens', { token: artist.token });
  assert.equal(list.status, 200);
  assert.equal(list.body.tokens.length, 1);
  assert.equal(list.body.tokens[0].name, 'my bot');
  assert.equal(list.body.tokens[0].token, undefined);
  assert.ok(!list.text.includes(token.slice(4)), 'the secret is never shown again');

  assert.equal((await sd('GET', '/sdapi/v1/samplers')).status, 200);
  assert.equal((await sd('GET', '/sdapi/v1/samplers', { headers: basic(artist.email, token) })).status, 200);
  assert.equal((await sd('GET', '/sdapi/v1/samplers', { headers: basic(artist.email.toUpperCase(), token) })).status, 200);
  assert.equal((await sd('GET', '/sdapi/v1/samplers', { headers: auth(artist.token) })).status, 200, 'a session token works too');
  assert.equal((await api(base, 'GET', '/api/me', { token })).status, 200, 'an API token works on the API too');
  const used = await api(base, 'GET', '/api/tokens', { token: artist.token });
  assert.ok(used.body.tokens[0].last_used_at, 'the token notes when it was used');

  // A1111's 401s: HTTPBasic's "Not authenticated" without credentials, then the wrong ones
  const none = await sd('GET', '/sdapi/v1/samplers', { headers: {} });
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Basic');
  assert.deepEqual(none.body, { error: 'HTTPException', detail: 'Not authenticated', body: '', errors: '401: Not authenticated' });
  for (const h of [basic(artist.email, 'oma_' + '0'.repeat(64)), basic('someone@else.com', token), basic(artist.email, 'correct horse battery'),
    auth('oma_' + 'f'.repeat(64)), { authorization: 'Basic !!!' }, { authorization: 'Basic ' + Buffer.from('nocolon').toString('base64') }]) {
    const r = await sd('GET', '/sdapi/v1/options', { headers: h });
    assert.equal(r.status, 401, JSON.stringify(h));
    assert.equal(r.body.detail, 'Incorrect username or password');
    assert.equal(r.headers.get('www-authenticate'), 'Basic');
  }
  // another artist's token does not see this artist's options; revoking ends a token
  const other = await signup(base, 'other');
  const ot = await api(base, 'POST', '/api/tokens', { token: other.token, body: {} });
  assert.equal(ot.status, 201);
  assert.equal(ot.body.name, 'API token');
  assert.equal((await sd('GET', '/sdapi/v1/options', { headers: basic(other.email, ot.body.token) })).status, 200);
  assert.equal((await sd('GET', '/sdapi/v1/options', { headers: basic(artist.email, ot.body.token) })).status, 401);
  assert.equal((await api(base, 'DELETE', `/api/tokens/${ot.body.id}`, { token: artist.token })).status, 404, 'not hers to revoke');
  assert.equal((await api(base, 'DELETE', `/api/tokens/${ot.body.id}`, { token: other.token })).status, 204);
  assert.equal((await sd('GET', '/sdapi/v1/options', { headers: auth(ot.body.token) })).status, 401);
  assert.equal((await api(base, 'POST', '/api/tokens', { token: other.token, body: { name: 7 } })).status, 400);
});

test('listings: samplers, schedulers, models, LoRAs, embeddings in A1111 shapes', async () => {
  const s = await sd('GET', '/sdapi/v1/samplers');
  assert.ok(s.body.length >= 3);
  for (const x of s.body) {
    assert.equal(typeof x.name, 'string');
    assert.ok(Array.isArray(x.aliases));
    assert.deepEqual(x.options, {});
  }
  for (const name of ['DDIM', 'Euler a']) assert.ok(s.body.some((x) => x.name === name), name);
  const sch = await sd('GET', '/sdapi/v1/schedulers');
  assert.equal(sch.body[0].name, 'automatic');
  assert.equal(sch.body[0].label, 'Automatic');
  assert.ok(sch.body.every((x) => 'default_rho' in x && 'need_inner_model' in x));
  const m = await sd('GET', '/sdapi/v1/sd-models');
  assert.deepEqual(m.body.map((x) => x.title), ['tiny-sd', 'tiny-sd-copy']);
  assert.deepEqual(Object.keys(m.body[0]).sort(), ['config', 'filename', 'hash', 'model_name', 'sha256', 'title']);
  const l = await sd('GET', '/sdapi/v1/loras');
  assert.deepEqual(l.body, [{ name: 'ink-lines', alias: 'ink-lines', path: 'models/Lora/ink-lines.safetensors', metadata: {} }]);
  // what clients read at start and this server has none of: A1111's shapes, empty
  for (const p of ['sd-vae', 'hypernetworks', 'face-restorers', 'prompt-styles', 'upscalers', 'latent-upscale-modes', 'script-info', 'extensions']) {
    const x = await sd('GET', `/sdapi/v1/${p}`);
    assert.equal(x.status, 200, p);
    assert.deepEqual(x.body, [], p);
  }
  assert.deepEqual((await sd('GET', '/sdapi/v1/scripts')).body, { txt2img: [], img2img: [] });
  assert.equal((await sd('GET', '/sdapi/v1/cmd-flags')).body.api, true);
  for (const p of ['refresh-checkpoints', 'refresh-loras', 'refresh-vae']) {
    const x = await sd('POST', `/sdapi/v1/${p}`);
    assert.equal(x.status, 200, p);
    assert.equal(x.text, 'null');
  }
  const e = await sd('GET', '/sdapi/v1/embeddings');
  assert.deepEqual(e.body, { loaded: { 'night-sky': { step: null, sd_checkpoint: null, sd_checkpoint_name: null, shape: 48, vectors: 2 } }, skipped: {} });
});

test('options: GET/POST sd_model_checkpoint per artist, an unknown model is A1111\'s RuntimeError', async () => {
  const g = await sd('GET', '/sdapi/v1/options');
  assert.equal(g.body.sd_model_checkpoint, 'tiny-sd');
  assert.equal(g.body.CLIP_stop_at_last_layers, 1);
  const bad = await sd('POST', '/sdapi/v1/options', { body: { sd_model_checkpoint: 'v1-5-pruned.safetensors' } });
  assert.equal(bad.status, 500);
  assert.deepEqual(bad.body, { error: 'RuntimeError', detail: '', body: '', errors: "model 'v1-5-pruned.safetensors' not found" });
  const set = await sd('POST', '/sdapi/v1/options', { body: { sd_model_checkpoint: 'tiny-sd-copy', samples_format: 'png' } });
  assert.equal(set.status, 200);
  assert.equal(set.text, 'null');
  assert.equal((await sd('GET', '/sdapi/v1/options')).body.sd_model_checkpoint, 'tiny-sd-copy');
  const r = await sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, prompt: 'which model' } });
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.body.info).sd_model_name, 'tiny-sd-copy');
  const o = await sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, prompt: 'override', override_settings: { sd_model_checkpoint: 'tiny-sd' } } });
  assert.equal(JSON.parse(o.body.info).sd_model_name, 'tiny-sd');
  assert.equal((await sd('POST', '/sdapi/v1/options', { body: { sd_model_checkpoint: 'tiny-sd' } })).status, 200);
  assert.equal((await sd('POST', '/sdapi/v1/options', { body: { CLIP_stop_at_last_layers: 'two' } })).status, 422);
});

test('node-sd-webui (an A1111 client from npm) drives txt2img, img2img and png-info unchanged', async () => {
  // The library sends no credentials of its own: its fetch gets the artist's token, as a proxy adds it.
  const realFetch = globalThis.fetch;
  globalThis.fetch = (url, init = {}) => realFetch(url, { ...init, headers: { ...(init.headers || {}), ...auth() } });
  try {
    const client = sdwebui({ apiUrl: base });
    const t = await client.txt2img({ prompt: 'a lighthouse at dusk', negativePrompt: 'blurry', seed: 1234, steps: 3, width: 64, height: 64,
      cfgScale: 6, samplingMethod: 'Euler a', batchSize: 2 });
    assert.equal(t.images.length, 2);
    const info = JSON.parse(t.info);
    assert.deepEqual(info.all_seeds, [1234, 1235]);
    assert.equal(info.sampler_name, 'Euler a');
    assert.equal(info.infotexts.length, 2);
    const png = Buffer.from(t.images[1], 'base64');
    assert.equal(png.readUInt32BE(16), 64);
    // its own reader of the "parameters" text (pngInfo splits the lines and the commas itself)
    const pi = await client.pngInfo({ imageData: t.images[1] });
    assert.equal(pi.prompt, 'a lighthouse at dusk');
    assert.equal(pi.negativePrompt, 'blurry');
    assert.equal(pi.steps, 3);
    assert.equal(pi.samplingMethod, 'Euler a');
    assert.equal(pi.cfgScale, 6);
    assert.equal(pi.seed, 1235);
    assert.equal(pi.width, 64);
    assert.equal(pi.height, 64);
    const i = await client.img2img({ imageData: [t.images[0]], prompt: 'the lighthouse in snow', seed: 5, steps: 4, width: 64, height: 64,
      samplingMethod: 'DDIM', cfgScale: 7 });
    assert.equal(i.images.length, 1);
    assert.equal(i.parameters.init_images, null, 'init images are not echoed (include_init_images false)');
    const ii = JSON.parse(i.info);
    assert.equal(ii.denoising_strength, 0.75, "A1111's img2img default strength");
    assert.match(ii.infotexts[0], /Denoising strength: 0\.75/);
    await assert.rejects(client.txt2img({ prompt: 'x', samplingMethod: 'No such sampler', steps: 2, width: 64, height: 64 }));
  } finally {
    globalThis.fetch = realFetch;
  }
});

test("txt2img: A1111's defaults, response shape and infotext, and the job in the artist's list", async () => {
  const r = await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'rooftops, rain, "neon"', negative_prompt: 'people', width: 64, height: 64,
    steps: 3, sampler_name: 'Euler a', n_iter: 2, batch_size: 1, restore_faces: true, styles: ['none'], save_images: true } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(Object.keys(r.body).sort(), ['images', 'info', 'parameters']);
  assert.equal(r.body.images.length, 2);
  assert.equal(typeof r.body.info, 'string', 'info is a JSON string, as A1111 sends it');
  const info = JSON.parse(r.body.info);
  const p = r.body.parameters;
  assert.equal(p.seed, -1, 'the request is echoed as sent');
  assert.equal(p.cfg_scale, 7);
  assert.equal(p.restore_faces, true);
  assert.equal(p.send_images, true);
  assert.ok(info.seed >= 0 && info.seed < 4294967294, 'seed -1 drew a random seed');
  assert.deepEqual(info.all_seeds, [info.seed, info.seed + 1]);
  assert.deepEqual(info.all_subseeds, [info.subseed, info.subseed + 1]);
  assert.equal(info.cfg_scale, 7);
  assert.equal(info.steps, 3);
  assert.equal(info.batch_size, 1);
  assert.deepEqual(info.all_prompts, ['rooftops, rain, "neon"', 'rooftops, rain, "neon"']);
  assert.deepEqual(info.styles, ['none']);
  assert.match(info.job_timestamp, /^\d{14}$/);
  for (const [k, text] of info.infotexts.entries()) {
    const parsed = parseGenerationParameters(text);
    assert.equal(parsed.Prompt, 'rooftops, rain, "neon"');
    assert.equal(parsed['Negative prompt'], 'people');
    assert.equal(parsed.Steps, '3');
    assert.equal(parsed.Sampler, 'Euler a');
    assert.equal(parsed['CFG scale'], '7');
    assert.equal(parsed.Seed, String(info.all_seeds[k]));
    assert.equal(parsed['Size-1'], '64');
    assert.equal(parsed['Size-2'], '64');
    // the PNG carries the same text
    const pi = await sd('POST', '/sdapi/v1/png-info', { body: { image: r.body.images[k] } });
    assert.equal(pi.body.info, text);
  }
  const jobs = await api(base, 'GET', '/api/jobs?limit=5', { token: artist.token });
  const job = jobs.body.jobs.find((j) => j.params.seed === info.seed);
  assert.ok(job, 'the request ran as a job of the artist');
  assert.equal(job.kind, 'generate.txt2img');
  assert.equal(job.status, 'succeeded');
  assert.equal(job.webtoon_id, null);
  assert.equal(job.params.batch, 2);

  // no sampler named: A1111's default, "Euler" (when the table has it); a (sampler, scheduler) pair
  const samplers = (await sd('GET', '/sdapi/v1/samplers')).body.map((x) => x.name);
  const plain = await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'default sampler', width: 64, height: 64, steps: 2 } });
  assert.equal(plain.status, 200, plain.text);
  assert.equal(JSON.parse(plain.body.info).sampler_name, samplers.includes('Euler') ? 'Euler' : 'Euler a');
  if (samplers.includes('DPM++ 2M Karras')) {
    const pair = await sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, sampler_name: 'DPM++ 2M', scheduler: 'Karras' } });
    assert.equal(pair.status, 200, pair.text);
    assert.equal(JSON.parse(pair.body.info).sampler_name, 'DPM++ 2M Karras');
    assert.ok((await sd('GET', '/sdapi/v1/schedulers')).body.some((x) => x.label === 'Karras'));
  }

  const quiet = await sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, steps: '2', prompt: 'no images back', send_images: false } });
  assert.equal(quiet.status, 200);
  assert.deepEqual(quiet.body.images, []);
  assert.equal(JSON.parse(quiet.body.info).infotexts.length, 1);
  assert.equal(JSON.parse(quiet.body.info).steps, 2, 'a number in a string is read as pydantic reads it');
});

test('png-info: our text and hand-made ones read as A1111 reads them', async () => {
  // the texts tools/a1111_infotext_check.py runs A1111's own function on (tools/README.md)
  const texts = JSON.parse(readFileSync(join(SOURCE, 'tests', 'fixtures', 'a1111', 'infotexts.json'), 'utf8'));
  assert.ok(texts.length >= 12);
  for (const t of texts) {
    const png = pngWithText(makePng(8, 8), [['tEXt', 'parameters', t], ['tEXt', 'Software', 'test']]);
    const r = await sd('POST', '/sdapi/v1/png-info', { body: { image: png.toString('base64') } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.info, t);
    assert.deepEqual(r.body.items, { Software: 'test' });
    assert.deepEqual(r.body.parameters, parseGenerationParameters(t), t);
  }
  // iTXt (UTF-8) and zTXt (deflated Latin-1), with a data: URL prefix
  const u = 'ねこ, café\nNegative prompt: ugly\nSteps: 2, Sampler: DDIM, CFG scale: 7, Seed: 9, Size: 64x64';
  const pi = await sd('POST', '/sdapi/v1/png-info', { body: { image: 'data:image/png;base64,' + pngWithText(makePng(8, 8), [['iTXt', 'parameters', u]]).toString('base64') } });
  assert.equal(pi.body.info, u);
  assert.equal(pi.body.parameters.Prompt, 'ねこ, café');
  const z = await sd('POST', '/sdapi/v1/png-info', { body: { image: pngWithText(makePng(8, 8), [['zTXt', 'parameters', 'café\nSteps: 1, Seed: 2, Size: 8x8']]).toString('base64') } });
  assert.equal(z.body.info, 'café\nSteps: 1, Seed: 2, Size: 8x8');
  const none = await sd('POST', '/sdapi/v1/png-info', { body: { image: makePng(8, 8).toString('base64') } });
  assert.equal(none.body.info, '');
  const bad = await sd('POST', '/sdapi/v1/png-info', { body: { image: 'not base64 at all!' } });
  assert.equal(bad.status, 500);
  assert.equal(bad.body.error, 'HTTPException');
  assert.match(bad.body.detail, /Invalid encoded image/);
  assert.equal((await sd('POST', '/sdapi/v1/png-info', { body: {} })).status, 422);
});

test('bad requests get A1111\'s errors and queue nothing', async () => {
  const before = (await api(base, 'GET', '/api/jobs?limit=100', { token: artist.token })).body.jobs.length;
  const typeErr = await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'x', steps: 'many' } });
  assert.equal(typeErr.status, 422);
  assert.deepEqual(typeErr.body, { detail: [{ loc: ['body', 'steps'], msg: 'value is not a valid integer', type: 'type_error.integer' }] });
  assert.equal((await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 5 } })).body.detail[0].type, 'type_error.str');
  assert.equal((await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'x', cfg_scale: [] } })).body.detail[0].loc[1], 'cfg_scale');
  assert.equal((await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'x', send_images: 'maybe' } })).status, 422);
  assert.equal((await sd('POST', '/sdapi/v1/img2img', { body: { prompt: 'x', denoising_strength: 'nan' } })).body.detail[0].loc[1], 'denoising_strength');
  assert.equal((await sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'x', override_settings: 'yes' } })).status, 422);
  const sampler = await sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, sampler_name: 'Nope' } });
  assert.equal(sampler.status, 404);
  assert.deepEqual(sampler.body, { error: 'HTTPException', detail: 'Sampler not found', body: '', errors: '404: Sampler not found' });
  for (const [body, re] of [
    [{ ...SMALL, width: 100 }, /width|height|multiple/],
    [{ ...SMALL, width: 4096 }, /width|height/],
    [{ ...SMALL, steps: 0 }, /steps/],
    [{ ...SMALL, cfg_scale: 99 }, /cfg/],
    [{ ...SMALL, seed: -5 }, /seed/],
    [{ ...SMALL, batch_size: 8, n_iter: 3 }, /batch_size/],
    [{ ...SMALL, enable_hr: true }, /hires/],
    [{ ...SMALL, subseed_strength: 0.3 }, /subseed_strength/],
    [{ ...SMALL, script_name: 'x/y/z plot' }, /Script 'x\/y\/z plot' not found/],
    [{ ...SMALL, alwayson_scripts: { controlnet: { args: [] } } }, /always on script controlnet not found/],
    [{ ...SMALL, override_settings: { sd_model_checkpoint: 'nope' } }, /model 'nope' not found/],
  ]) {
    const r = await sd('POST', '/sdapi/v1/txt2img', { body });
    assert.ok(r.status === 422 || r.status === 500, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
    assert.match(r.body.detail || r.body.errors, re, JSON.stringify(body));
  }
  const mask = await sd('POST', '/sdapi/v1/img2img', { body: { ...SMALL, init_images: [makePng(64, 64).toString('base64')], mask: makePng(64, 64).toString('base64') } });
  assert.equal(mask.status, 422);
  assert.match(mask.body.detail, /mask/);
  const noInit = await sd('POST', '/sdapi/v1/img2img', { body: { ...SMALL } });
  assert.equal(noInit.status, 404);
  assert.equal(noInit.body.detail, 'Init image not found');
  const badInit = await sd('POST', '/sdapi/v1/img2img', { body: { ...SMALL, init_images: ['@@@@'] } });
  assert.equal(badInit.status, 500);
  const notImage = await sd('POST', '/sdapi/v1/img2img', { body: { ...SMALL, init_images: [Buffer.from('hello world').toString('base64')] } });
  assert.equal(notImage.status, 415);
  assert.equal((await sd('POST', '/sdapi/v1/txt2img', { body: '{"prompt": ' })).status, 400);
  assert.equal((await sd('POST', '/sdapi/v1/txt2img', { body: '[1]' })).status, 400);
  const plain = await fetch(`${base}/sdapi/v1/txt2img`, { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: '{}' });
  assert.equal(plain.status, 415);
  const nf = await sd('GET', '/sdapi/v1/no-such-route');
  assert.deepEqual(nf.body, { error: 'HTTPException', detail: 'Not Found', body: '', errors: '404: Not Found' });
  assert.equal((await sd('GET', '/sdapi/v1/txt2img')).status, 405);
  const after = (await api(base, 'GET', '/api/jobs?limit=100', { token: artist.token })).body.jobs.length;
  assert.equal(after, before, 'no job was queued for a refused request');
});

test('two clients at once: both answered with their own images, the server answers others meanwhile', async () => {
  const other = await signup(base, 'second');
  const ot = (await api(base, 'POST', '/api/tokens', { token: other.token, body: { name: 'b' } })).body.token;
  const reqs = [
    sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, prompt: 'first client', seed: 100, steps: 4 } }),
    sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, prompt: 'second client', seed: 200, steps: 4 }, headers: basic(other.email, ot) }),
    sd('POST', '/sdapi/v1/txt2img', { body: { ...SMALL, prompt: 'first again', seed: 300, steps: 4 } }),
  ];
  // while they wait (more of them than the slow lane has threads would not matter: waits hold none)
  const t0 = Date.now();
  const health = await api(base, 'GET', '/api/health');
  assert.equal(health.status, 200);
  assert.ok(Date.now() - t0 < 5000, 'the server answers while requests wait');
  const [a, b, c] = await Promise.all(reqs);
  for (const [r, seed, prompt] of [[a, 100, 'first client'], [b, 200, 'second client'], [c, 300, 'first again']]) {
    assert.equal(r.status, 200, r.text);
    const info = JSON.parse(r.body.info);
    assert.equal(info.seed, seed);
    assert.equal(info.prompt, prompt);
    assert.equal(parseGenerationParameters(info.infotexts[0]).Seed, String(seed));
  }
  assert.notEqual(a.body.images[0], c.body.images[0]);
  const theirs = await api(base, 'GET', '/api/jobs', { token: other.token });
  assert.deepEqual(theirs.body.jobs.map((j) => j.params.prompt), ['second client'], 'each job belongs to its artist');
});

test('interrupt mid-run: /progress shows the step and a preview, /interrupt ends the job, the request answers', async () => {
  const idle = await sd('GET', '/sdapi/v1/progress');
  assert.equal(idle.body.progress, 0);
  assert.equal(idle.body.state.job_count, 0);
  assert.equal(idle.body.current_image, null);
  /* 320x320 so that a step outlasts a poll on a fast machine (128x128 ran 150 steps between
   * two polls on CI); polled every 50 ms for up to 5 minutes (the worker may still be busy with an earlier
   * test's job); a run that ends before it was seen mid-way fails with its own message */
  let done = false;
  const pending = sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'a long one', width: 320, height: 320, steps: 150, sampler_name: 'Euler a', seed: 3 } });
  pending.then(() => { done = true; }, () => { done = true; });
  let seenStep;
  const seen = await poll(async () => {
    if (done) return null;
    const p = await sd('GET', '/sdapi/v1/progress');
    if (p.body.state.sampling_step >= 5 && p.body.current_image) return p.body;
    if (p.body.state.sampling_step >= 5) seenStep = p.body; /* a preview may come a step later */
    return undefined;
  }, 6000, 50);
  assert.ok(seen, done ? `the run ended before /progress showed step 5 with a preview (step 5+ seen without one: ${!!seenStep})` : 'the job reached step 5 with a preview');
  assert.equal(seen.state.sampling_steps, 150);
  assert.equal(seen.state.job_count, 1);
  assert.ok(seen.progress > 0.01 && seen.progress < 1);
  assert.ok(seen.eta_relative >= 0); /* 0 when the step came within the clock's resolution of the start */
  assert.match(seen.textinfo, /^step \d+\/150$/);
  const preview = Buffer.from(seen.current_image, 'base64');
  assert.equal(preview.readUInt32BE(0), 0x89504e47, 'current_image is a PNG');
  const noImg = await sd('GET', '/sdapi/v1/progress?skip_current_image=true');
  assert.equal(noImg.body.current_image, null);
  const stop = await sd('POST', '/sdapi/v1/interrupt');
  assert.equal(stop.status, 200);
  assert.deepEqual(stop.body, {});
  const r = await pending;
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.images, []);
  const job = (await api(base, 'GET', `/api/jobs/${seen.current_task}`, { token: artist.token })).body;
  assert.equal(job.status, 'cancelled');
  const skip = await sd('POST', '/sdapi/v1/skip');
  assert.equal(skip.status, 200);
  assert.equal(skip.text, 'null');
});

test('crash recovery: the server is killed while a request waits; the job runs again after the restart', async () => {
  const pending = sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'survives a crash', width: 256, height: 256, steps: 30, sampler_name: 'DDIM', seed: 77 } })
    .then((r) => ({ status: r.status }), (e) => ({ error: String(e) }));
  const id = await runningTask(2);
  assert.ok(id, 'the job started');
  await srv.stop('SIGKILL');
  const lost = await pending;
  assert.ok(lost.error || lost.status >= 500, 'the waiting client saw the server go');
  srv = await startServer({ dataDir, workers: 1, env: { OMA_MODELS: models } });
  base = srv.url;
  const job = await endedJob(id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.equal(job.attempts, 2, 'it ran a second time after the crash');
  assert.deepEqual(job.result.seeds, [77]);
  assert.ok(['bf16', 'fp32'].includes(job.result.precision), 'the result says the precision it ran at');
  // the same token still works after the restart, and its image is there
  assert.equal(job.outputs.length, 1);
});

test('shutdown: a waiting request is answered 503 at once, its job is put back and finishes after the restart', async () => {
  const pending = sd('POST', '/sdapi/v1/txt2img', { body: { prompt: 'across a restart', width: 256, height: 256, steps: 30, sampler_name: 'DDIM', seed: 78 } });
  const id = await runningTask(1);
  assert.ok(id, 'the job started');
  const stopped = srv.stop('SIGTERM');
  const r = await pending;
  assert.equal(r.status, 503, r.text);
  assert.equal(r.body.error, 'HTTPException');
  assert.equal(r.headers.get('retry-after'), '5');
  await stopped;
  assert.doesNotMatch(srv.stderr(), /AddressSanitizer|LeakSanitizer|runtime error:/);
  srv = await startServer({ dataDir, workers: 1, env: { OMA_MODELS: models } });
  base = srv.url;
  const job = await endedJob(id);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.deepEqual(job.result.seeds, [78]);
});
