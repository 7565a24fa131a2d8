// pose_transfer.test.mjs — the Pose page's "Draw the character in this pose" (pose.transfer,
// AnimateAnyone stage 1) end to end in a real browser, on the tiny fixture model
// (tests/fixtures/animate/tiny, linked as OMA_MODELS/animate-anyone): upload the character,
// start from a standing figure, drag a wrist, pick the smallest size and 3 steps, and draw. The
// job view must show the step messages and a preview while it runs, then the result image at
// the size the page announced (the pose's proportions, the shorter side as chosen: 256x512 for
// the 64x128 character), and the server's job must agree (succeeded, 3 steps, that size).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, SOURCE_DIR } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { pngSize } from '../lib/png.mjs';

const OUT = join(SOURCE_DIR, 'tests', 'out');
const FIXTURES = join(SOURCE_DIR, 'tests', 'fixtures', 'animate');
let server, browser, page, models;
const pageErrors = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  models = mkdtempSync(join(tmpdir(), 'oma-aa-browser-'));
  symlinkSync(join(FIXTURES, 'tiny'), join(models, 'animate-anyone'));
  server = await startServer({ env: { OMA_MODELS: models } });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
});

after(async () => {
  if (page && !page.isClosed()) await page.screenshot({ path: join(OUT, 'browser-pose-transfer-last.png'), fullPage: true }).catch(() => {});
  await browser?.close();
  await server?.stop();
  if (models) rmSync(models, { recursive: true, force: true });
  const log = server?.log() ?? '';
  if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) {
    console.error(log);
    throw new Error('oma serve reported a sanitizer error during the browser test');
  }
});

const shot = (name) => page.screenshot({ path: join(OUT, name), fullPage: true });

async function centre(loc) {
  const b = await loc.boundingBox();
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

test('Pose page: "Draw the character in this pose" runs pose.transfer with progress, a preview and the result', async () => {
  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  assert.ok(caps.kinds.some((k) => k.name === 'pose.transfer' && k.available), 'pose.transfer is offered with the tiny weights');
  assert.equal((await page.request.post(server.url + '/api/auth/signup', {
    data: { email: 'ara@example.com', password: 'a long enough password', name: 'Ara' } })).status(), 201);
  assert.equal((await page.request.post(server.url + '/api/webtoons', { data: { name: 'Rooftop chase' } })).status(), 201);
  await page.goto(server.url + '/#/pose');

  await page.getByTestId('pose-reference').locator('input[type=file]').setInputFiles(join(FIXTURES, 'character.png'));
  await page.getByTestId('pose-reference').locator('figcaption', { hasText: '64×128' }).waitFor();
  const draw = page.getByTestId('pose-transfer');
  assert.equal(await draw.isDisabled(), true, 'nothing to draw before there is a pose');
  await page.getByRole('button', { name: 'Start from a standing figure' }).click();
  await page.getByTestId('pose-svg').waitFor();
  // edit the pose: raise the right wrist
  const wrist = page.locator('[data-kp="0:body:4"]');
  const w0 = await centre(wrist);
  await page.mouse.move(w0.x, w0.y);
  await page.mouse.down();
  await page.mouse.move(w0.x + 30, w0.y - 50, { steps: 6 });
  await page.mouse.up();
  const w1 = await centre(wrist);
  assert.ok(Math.abs(w1.x - w0.x - 30) < 3 && Math.abs(w1.y - w0.y + 50) < 3, 'the wrist followed the mouse');

  // the size the page will ask for: the 1:2 pose's proportions, the shorter side as chosen
  assert.match(await page.getByTestId('pose-transfer-size').textContent(), /512×1024/);
  await page.getByLabel('Size').selectOption('256');
  assert.match(await page.getByTestId('pose-transfer-size').textContent(), /256×512/);
  await page.getByLabel('Steps', { exact: true }).fill('3');

  // record what the job view shows while the job runs (previews and step messages may come and
  // go between two looks, so a DOM observer keeps them)
  await page.evaluate(() => {
    const seen = { previews: [], messages: [] };
    window.__transferSeen = seen;
    const look = () => {
      const j = [...document.querySelectorAll('[data-testid=job]')].find((e) => e.textContent.includes('Character in the new pose'));
      if (!j) return;
      const img = j.querySelector('img.preview');
      if (img && img.getAttribute('src') && !seen.previews.includes(img.getAttribute('src'))) seen.previews.push(img.getAttribute('src'));
      const m = j.querySelector('[data-testid=job-message]')?.textContent ?? '';
      if (m && !seen.messages.includes(m)) seen.messages.push(m);
    };
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await draw.click();
  const job = page.getByTestId('job').filter({ hasText: 'Character in the new pose' }).first();
  await job.waitFor();
  await page.waitForFunction(() => {
    const j = [...document.querySelectorAll('[data-testid=job]')].find((e) => e.textContent.includes('Character in the new pose'));
    return j && j.getAttribute('data-status') !== 'running' && j.getAttribute('data-status') !== 'queued';
  }, null, { timeout: 600000 });
  assert.equal(await job.getAttribute('data-status'), 'succeeded', await job.getByTestId('job-message').textContent());
  const seen = await page.evaluate(() => window.__transferSeen);
  console.log('seen while running:', JSON.stringify({ previews: seen.previews.length, messages: seen.messages }));
  assert.ok(seen.messages.some((m) => /step \d\/3/.test(m)), `step messages shown: ${seen.messages.join(' | ')}`);
  assert.ok(seen.previews.length >= 1, 'a preview was shown while the job ran');

  // the result image is shown at the announced size
  const img = job.getByTestId('job-output').first().locator('img');
  await img.waitFor();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  const dims = await img.evaluate((el) => ({ width: el.naturalWidth, height: el.naturalHeight }));
  assert.deepEqual(dims, { width: 256, height: 512 });
  await shot('browser-pose-transfer.png');

  // the server's record of it
  const list = await (await page.request.get(server.url + '/api/jobs?limit=5')).json();
  const j = list.jobs.find((x) => x.kind === 'pose.transfer');
  assert.ok(j, 'the job is listed');
  assert.equal(j.status, 'succeeded');
  assert.equal(j.params.width, 256);
  assert.equal(j.params.height, 512);
  assert.equal(j.params.steps, 3);
  assert.ok(Array.isArray(j.params.pose?.people) && j.params.pose.people.length === 1, 'the edited pose was sent');
  const src = await img.getAttribute('src');
  const res = await page.request.get(new URL(src, server.url).toString());
  assert.deepEqual(pngSize(Buffer.from(await res.body())), { width: 256, height: 512 });
  assert.deepEqual(pageErrors, []);
});
