// pages.test.mjs — the pages whose pipelines may not be on this server yet (Styles, Background,
// job failures, previews), driven in Debian's chromium against a real `oma serve` whose job
// endpoints are scripted by the test (playwright's request routing): accounts, webtoons, uploads
// and assets stay real; capabilities, jobs and styles answer with the shapes the job-kind
// contracts define. It checks what the UI SENDS (kinds, params, inputs) and how it SHOWS the
// results, the live preview, the polling fallback when the event stream drops, and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, SOURCE_DIR } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { makePng } from '../lib/png.mjs';

const OUT = join(SOURCE_DIR, 'tests', 'out');
const PNG = makePng(32, 32, (x, y) => [x * 8, y * 8, 128]);
let server, browser, page;
const pageErrors = [];

// The scripted part of the API.
const mock = {
  kinds: [],                // names reported available by /api/capabilities
  posted: [],               // bodies of POST /api/jobs
  jobs: new Map(),          // id -> { job, events: 'done' | 'drop', polls }
  styles: null,             // GET .../styles answer (null = real server)
  poseModels: null,         // /api/capabilities pose_models (null = left out)
};

function jobObject(id, over) {
  return { id, kind: 'x', status: 'queued', progress: 0, message: null, params: {}, inputs: {}, result: null,
    outputs: [], error: null, attempts: 0, created_at: '2026-11-25T10:00:00Z', ...over };
}

async function route(r) {
  const req = r.request();
  const url = new URL(req.url());
  const p = url.pathname;
  const json = (status, body) => r.fulfill({ status, contentType: 'application/json', body: JSON.stringify(body) });
  if (p === '/api/capabilities') {
    const all = ['image.normalize', 'style.profile', 'convert.lineart', 'generate.txt2img', 'generate.img2img', 'pose.estimate', 'pose.render', 'pose.warp'];
    return json(200, { kinds: all.map((name) => ({ name, title: name, available: mock.kinds.includes(name) })),
      samplers: ['DPM++ 2M Karras', 'Euler a', 'DDIM', 'UniPC', 'LCM'], precision: { default: 'bf16', choices: ['fp32', 'bf16'] },
      ...(mock.poseModels ? { pose_models: mock.poseModels } : {}) });
  }
  if (p === '/api/jobs' && req.method() === 'POST') {
    const body = req.postDataJSON();
    mock.posted.push(body);
    const id = `job-${mock.posted.length}`;
    const plan = mock.plan?.(body) ?? {};
    mock.jobs.set(id, { polls: 0, ...plan, body });
    return json(202, jobObject(id, { kind: body.kind }));
  }
  let m = p.match(/^\/api\/jobs\/(job-\d+)(\/.*)?$/);
  if (m) {
    const j = mock.jobs.get(m[1]);
    if (!j) return json(404, { error: { code: 'not_found', message: 'no such job' } });
    const final = jobObject(m[1], { kind: j.body.kind, ...j.final });
    if (m[2] === '/events') {
      const ev = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
      let body = ev('progress', { progress: 0.25, message: 'step 1/4', preview: `/api/jobs/${m[1]}/preview` });
      if (j.events !== 'drop') body += ev('done', final);
      return r.fulfill({ status: 200, headers: { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store' }, body });
    }
    if (m[2] === '/preview' || m[2]?.startsWith('/outputs/')) return r.fulfill({ status: 200, contentType: 'image/png', body: PNG });
    if (!m[2] && req.method() === 'GET') {
      j.polls += 1;
      if (j.polls < 3) return json(200, jobObject(m[1], { kind: j.body.kind, status: 'running', progress: 0.5 + j.polls * 0.1, message: `step ${j.polls + 2}/4` }));
      return json(200, final);
    }
  }
  m = p.match(/^\/api\/webtoons\/[^/]+\/styles$/);
  if (m && mock.styles) return json(200, mock.styles);
  return r.continue();
}

before(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.route('**/api/**', route);
  assert.equal((await page.request.post(server.url + '/api/auth/signup', {
    data: { email: 'lee@example.com', password: 'pages test password', name: 'Lee' } })).status(), 201);
  assert.equal((await page.request.post(server.url + '/api/webtoons', { data: { name: 'Scripted' } })).status(), 201);
});

after(async () => {
  await browser?.close();
  if (server) {
    await server.stop();
    assert.doesNotMatch(server.log(), /AddressSanitizer|LeakSanitizer|runtime error:/);
  }
});

// A fresh load (the query changes), so the app reads the scripted capabilities again.
let loads = 0;
const open = (hash) => page.goto(`${server.url}/?load=${++loads}#/${hash}`);
const shot = (name) => page.screenshot({ path: join(OUT, name), fullPage: true });
const outputs = (names) => names.map((name) => ({ name, mime: name.endsWith('.png') ? 'image/png' : 'application/json', bytes: 1234 }));

test('styles: style.profile gets the webtoon samples; profiles show as cards, a malformed one does not break the page', async () => {
  mock.kinds = ['style.profile'];
  mock.styles = { styles: [
    { id: 's1', name: 'Ink night', kind: 'profile', status: 'ready', created_at: '2026-11-25T10:00:00Z', data: {
      palette: [{ rgb: '#102030', lab: [12, 0, -10], weight: 0.6 }, { rgb: '#f0e0d0', lab: [90, 2, 8], weight: 0.4 }, { rgb: 'red', weight: 1 }],
      tone_levels: [30, 128, 220], line: { weight_px: 2.5, darkness: 0.9 },
      screentone: { present: true, density: 0.3, frequency: 0.125 }, saturation: 0.4, contrast: 0.7 } },
    { id: 's2', name: 'Broken', kind: 'profile', status: 'ready', created_at: '2026-11-25T10:00:00Z', data: { palette: 'no', tone_levels: [1e9, 'x'] } },
  ] };
  mock.plan = () => ({ final: { status: 'succeeded', progress: 1, result: { style: {} } } });
  await open('styles');
  await page.locator('.who', { hasText: 'Lee' }).waitFor();
  const files = [0, 1, 2].map((i) => ({ name: `p${i}.png`, mimeType: 'image/png', buffer: makePng(40 + i, 40, () => [i * 80, 60, 90]) }));
  await page.getByTestId('style-samples').locator('input[type=file]').setInputFiles(files);
  await page.getByRole('button', { name: 'Add 3 to the webtoon' }).click();
  await page.getByText('3 / 50').waitFor();
  await page.getByLabel('Style name').fill('Ink night');
  await page.getByRole('button', { name: 'Learn style' }).click();
  await page.locator('[data-testid=job][data-status=succeeded]').waitFor();
  const body = mock.posted.at(-1);
  assert.equal(body.kind, 'style.profile');
  assert.deepEqual(body.params, { name: 'Ink night' });
  assert.equal(body.inputs.samples.length, 3);
  assert.ok(body.webtoon_id);

  const card = page.getByTestId('style-card').filter({ hasText: 'Ink night' });
  await card.waitFor();
  const swatches = await card.locator('.swatch').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.deepEqual(swatches, ['rgb(16, 32, 48)', 'rgb(240, 224, 208)'], 'valid swatches only, in order');
  const tones = await card.locator('.tone').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.deepEqual(tones, ['rgb(30, 30, 30)', 'rgb(128, 128, 128)', 'rgb(220, 220, 220)']);
  const text = await card.textContent();
  assert.match(text, /2\.5 px, darkness 0\.90/);
  assert.match(text, /density 0\.30 · dots every 8\.0 px/);
  const broken = page.getByTestId('style-card').filter({ hasText: 'Broken' });
  assert.equal(await broken.locator('.swatch').count(), 0);
  await shot('pages-styles.png');
  mock.styles = null;
});

test('background without SD: convert.lineart gets the LT options and the chosen style; composite and layers are shown', async () => {
  mock.kinds = ['convert.lineart'];
  mock.styles = { styles: [{ id: 's1', name: 'Ink night', kind: 'profile', status: 'ready', data: {}, created_at: '2026-11-25T10:00:00Z' }] };
  mock.plan = () => ({ final: { status: 'succeeded', progress: 1, outputs: outputs(['image.png', 'lines.png', 'flats.png', 'tones.png']) } });
  await open('background');
  await page.getByRole('heading', { name: 'Line + tone conversion' }).waitFor();
  assert.match(await page.locator('main').textContent(), /needs? a Stable Diffusion model in OMA_MODELS/);
  await page.locator('main input[type=file]').setInputFiles({ name: 'photo.png', mimeType: 'image/png', buffer: makePng(64, 64, (x) => [x * 4, 100, 50]) });
  await page.locator('main figcaption', { hasText: '64×64' }).waitFor();
  await page.getByLabel(/^Style/).selectOption('s1');
  await page.getByLabel('Take line width, threshold and tone levels from the style').uncheck();
  await page.getByLabel('Line width (px)').fill('3');
  await page.getByLabel('Tone type').selectOption('lines');
  await page.getByLabel('Tone angle (°)').fill('30');
  await page.getByLabel('Colour flats').uncheck();
  await page.getByRole('button', { name: 'Convert' }).click();
  await page.locator('[data-testid=job][data-status=succeeded]').waitFor();
  const body = mock.posted.at(-1);
  assert.equal(body.kind, 'convert.lineart');
  assert.equal(typeof body.inputs.image, 'string');
  assert.deepEqual(body.params, { tone_type: 'lines', color: false, style_id: 's1', line_width: 3, line_threshold: 0.5,
    tone_levels: 3, tone_frequency: 0.1667, tone_angle: 30 });
  const names = await page.getByTestId('job-output').locator('.small').allTextContents();
  assert.deepEqual(names.map((n) => n.split(' ·')[0]), ['image.png', 'lines.png', 'flats.png', 'tones.png']);
  // Saving a result the server does not know (this job is scripted) shows the server's refusal.
  const out = page.getByTestId('job-output').first();
  await out.getByRole('button', { name: 'Save to gallery' }).click();
  await out.getByRole('button', { name: 'Save', exact: true }).click();
  await out.getByRole('alert').waitFor();
  await shot('pages-lineart.png');
  mock.styles = null;
});

test('background with SD: img2img candidates at spread strengths, one seed; live preview, then polling when the stream drops', async () => {
  mock.kinds = ['generate.txt2img', 'generate.img2img', 'convert.lineart'];
  mock.posted = [];
  mock.plan = (b) => ({ events: 'drop', final: { status: 'succeeded', progress: 1, outputs: outputs(['image-0.png']),
    result: { images: 1, sampler: b.params.sampler } } });
  await open('background');
  await page.getByRole('heading', { name: 'Generate a background' }).waitFor();
  await page.locator('main input[type=file]').setInputFiles({ name: 'street.png', mimeType: 'image/png', buffer: makePng(64, 48, (x, y) => [x * 3, y * 5, 90]) });
  await page.locator('main figcaption', { hasText: '64×48' }).waitFor();
  await page.getByLabel('Prompt', { exact: true }).fill('rainy street, webtoon background');
  // the sampler list is the server's (UniPC is not in the page's fallback list)
  assert.deepEqual(await page.getByLabel('Sampler').locator('option').allTextContents(),
    ['DPM++ 2M Karras', 'Euler a', 'DDIM', 'UniPC', 'LCM']);
  await page.getByLabel('Sampler').selectOption('UniPC');
  await page.getByLabel('Steps').fill('12');
  await page.getByLabel('Seed').fill('1234');
  await page.getByLabel('Candidates').fill('3');
  await page.getByLabel('Shape').selectOption('photo');   // the 64x48 photo's proportions, short side 512
  await page.getByRole('button', { name: 'Generate' }).click();
  // While the jobs run (the scripted stream dropped after one progress event), the preview shows.
  await page.locator('[data-testid=job] img.preview').first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=job][data-status=succeeded]').length === 3);
  assert.equal(mock.posted.length, 3);
  assert.deepEqual(mock.posted.map((b) => b.kind), ['generate.img2img', 'generate.img2img', 'generate.img2img']);
  assert.deepEqual(mock.posted.map((b) => b.params.strength), [0.45, 0.55, 0.65]);
  for (const b of mock.posted) {
    assert.equal(b.params.seed, 1234); assert.equal(b.params.steps, 12); assert.equal(b.params.sampler, 'UniPC');
    assert.equal(b.params.prompt, 'rainy street, webtoon background'); assert.equal(b.params.batch, 1);
    assert.equal(typeof b.inputs.image, 'string');
    assert.equal(b.params.width, 680); assert.equal(b.params.height, 512);   // 64:48 -> 682.7 -> 680
    assert.equal(b.params.precision, undefined);   // left to the server's default
  }
  assert.ok([...mock.jobs.values()].every((j) => j.polls >= 3), 'each job was followed by polling after its stream dropped');
  assert.match(await page.getByTestId('job-result').first().textContent(), /generate\.img2img.*sampler: UniPC/);
  await shot('pages-img2img.png');

  // Without a photo: one txt2img job with batch = candidates.
  await page.locator('main .thumb .remove').click();
  await page.getByLabel('Candidates').fill('4');
  // the precision list is the server's: its default first, then each choice; fp32 asked for is sent
  assert.deepEqual(await page.getByLabel('Precision').locator('option').allTextContents(),
    ['Server default (bf16)', 'fp32: exact, slower', 'bf16: faster on CPUs with bf16 units, pixels ~1/255 from fp32']);
  await page.getByLabel('Precision').selectOption('fp32');
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=job]').length === 1);
  const t2i = mock.posted.at(-1);
  assert.equal(t2i.kind, 'generate.txt2img');
  assert.equal(t2i.params.precision, 'fp32');
  assert.equal(t2i.params.batch, 4);
  assert.deepEqual(t2i.inputs, {});
  assert.equal(t2i.params.width, 512); assert.equal(t2i.params.height, 512);   // "photo" falls back to square
  // Non-square sizes, any multiple of 8: portrait 2:3 and tall 9:16 (512 x 910.2 -> 912)
  for (const [shape, w, h] of [['2:3', 512, 768], ['9:16', 512, 912], ['16:9', 912, 512]]) {
    const n = mock.posted.length;
    await page.getByLabel('Shape').selectOption(shape);
    await page.getByRole('button', { name: 'Generate' }).click();
    for (const t0 = Date.now(); mock.posted.length === n && Date.now() - t0 < 10000;) await new Promise((r) => setTimeout(r, 50));
    const b = mock.posted.at(-1);
    assert.equal(mock.posted.length, n + 1);
    assert.deepEqual([b.kind, b.params.width, b.params.height], ['generate.txt2img', w, h]);
  }
});

test('bad uploads are refused with a reason; a failed job shows its reason; a job that no longer exists says so', async (t) => {
  mock.kinds = ['image.normalize'];
  mock.plan = () => ({ final: { status: 'failed', progress: 0.3, error: 'the image could not be decoded: truncated file' } });
  await open('tools');
  // Bad files are refused by name with a reason: the browser's type check, then the server's decoder.
  const picker = page.getByTestId('tools-image');
  await picker.locator('input[type=file]').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  await picker.getByRole('alert').filter({ hasText: 'notes.txt: use a PNG, JPEG or WebP image.' }).waitFor();
  await picker.locator('input[type=file]').setInputFiles({ name: 'cut.png', mimeType: 'image/png', buffer: PNG.subarray(0, 60) });
  await picker.getByRole('alert').filter({ hasText: /^cut\.png: / }).waitFor();
  t.diagnostic('server said: ' + await picker.getByRole('alert').textContent());
  assert.equal(await picker.locator('.thumb').count(), 0);
  await page.getByTestId('tools-image').locator('input[type=file]').setInputFiles({ name: 'a.png', mimeType: 'image/png', buffer: PNG });
  await page.getByTestId('tools-image').locator('figcaption', { hasText: '32×32' }).waitFor();
  await page.getByRole('button', { name: 'Run' }).click();
  const job = page.locator('[data-testid=job][data-status=failed]').first();
  await job.waitFor();
  assert.equal(await job.getByRole('alert').textContent(), 'the image could not be decoded: truncated file');
  assert.equal(await job.getByTestId('job-output').count(), 0);
  // After a reload the job is followed again; the server no longer knows it.
  mock.jobs.clear();
  await page.reload();
  await page.getByText('This job no longer exists.').first().waitFor();
  await shot('pages-failed.png');
  assert.deepEqual(pageErrors, []);
});

test('pose: the Model choice appears only when DWPose is available and is sent as params.model', async () => {
  mock.kinds = ['pose.estimate'];
  mock.plan = () => ({ final: { status: 'failed', progress: 1, error: { code: 'job_failed', message: 'scripted' } } });
  const posted = async () => {   // clicks Detect pose, returns the body the page POSTed
    const n = mock.posted.length;
    await page.getByRole('button', { name: 'Detect pose' }).click();
    for (let i = 0; i < 300 && mock.posted.length === n; i++) await page.waitForTimeout(100);
    assert.ok(mock.posted.length > n, 'a job was posted');
    return mock.posted.at(-1);
  };
  const pick = async () => {
    await page.getByTestId('pose-reference').locator('input[type=file]').setInputFiles({ name: 'ref.png', mimeType: 'image/png', buffer: makePng(48, 40, (x, y) => [x * 5, y * 6, 90]) });
    await page.getByTestId('pose-reference').locator('figcaption', { hasText: '48×40' }).waitFor();
  };
  // TFJS models only: no choice, the request as before
  mock.poseModels = [{ name: 'movenet-multipose', available: true }, { name: 'blazepose', available: true }, { name: 'dwpose', available: false }];
  await open('pose');
  await page.getByRole('button', { name: 'Detect pose' }).waitFor();
  await pick();
  assert.equal(await page.getByTestId('pose-model').count(), 0);
  assert.deepEqual((await posted()).params, { hands: true, face: true });
  // DWPose's files on the server: the choice appears; DWPose does hands and face itself
  mock.poseModels = [{ name: 'movenet-multipose', available: true }, { name: 'blazepose', available: true }, { name: 'dwpose', available: true }];
  await open('pose');
  const choice = page.getByTestId('pose-model');
  await choice.waitFor();
  assert.deepEqual(await choice.locator('option').evaluateAll((o) => o.map((x) => x.value)), ['movenet-multipose', 'blazepose', 'dwpose']);
  await choice.selectOption('dwpose');
  assert.equal(await page.getByLabel('hands', { exact: true }).isDisabled(), true);
  await pick();
  const body = await posted();
  assert.deepEqual(body.params, { hands: true, face: true, model: 'dwpose' });
  assert.equal(body.kind, 'pose.estimate');
  await page.locator('[data-testid=job][data-status=failed]').first().waitFor();
  await shot('pages-pose-dwpose.png');
  mock.poseModels = null;
});
