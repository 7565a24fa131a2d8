// train.test.mjs — the Styles page trains a style (style.train) on the tiny SD fixture model in a
// real browser: samples are added, a few steps are set in the training settings, "Train" shows
// the live loss curve (an SVG path that grows with the steps), the time left and the sample
// images; the finished style appears as a "lora" card and is offered on the Background page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, SOURCE_DIR } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { makePng } from '../lib/png.mjs';

const OUT = join(SOURCE_DIR, 'tests', 'out');
let server, browser, page;
const pageErrors = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer({ env: { OMA_MODELS: join(SOURCE_DIR, 'tests', 'fixtures', 'sd', 'tiny-sd') } });
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
});

after(async () => {
  if (page && !page.isClosed()) await page.screenshot({ path: join(OUT, 'browser-train-last.png'), fullPage: true }).catch(() => {});
  await browser?.close();
  await server?.stop();
  const log = server?.log() ?? '';
  if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) {
    console.error(log);
    throw new Error('oma serve reported a sanitizer error during the browser test');
  }
});

test('Styles page: Train shows the live loss curve, the time left and the samples; the style is offered on Background', async () => {
  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  assert.ok(caps.kinds.some((k) => k.name === 'style.train' && k.available), 'style.train is offered with the tiny model');
  assert.equal((await page.request.post(server.url + '/api/auth/signup', {
    data: { email: 'tae@example.com', password: 'a long enough password', name: 'Tae' } })).status(), 201);
  assert.equal((await page.request.post(server.url + '/api/webtoons', { data: { name: 'Rooftops' } })).status(), 201);
  await page.goto(server.url + '/#/styles');
  const colours = [[200, 60, 40], [40, 90, 200], [230, 220, 200]];
  await page.getByTestId('style-samples').locator('input[type=file]').setInputFiles(colours.map((c, i) => ({
    name: `panel-${i}.png`, mimeType: 'image/png', buffer: makePng(96, 96, (x, y) => ((x + y) % 24 < 3 ? [20, 20, 20] : c)),
  })));
  await page.getByRole('button', { name: 'Add 3 to the webtoon' }).click();
  await page.getByText('3 / 50').waitFor();
  await page.getByLabel('Style name').fill('Rooftop nights');
  await page.locator('details', { hasText: 'Training settings' }).evaluate((d) => { d.open = true; });
  // 70 steps: more than the 50 latest losses each event carries (the rest comes from one GET)
  await page.getByLabel('Steps, stage 1 (style words)').fill('35');
  await page.getByLabel('Steps, stage 2 (LoRA)').fill('35');
  await page.getByLabel('Resolution (px)').fill('64');
  await page.getByLabel('Sample image every (steps)').fill('10');
  await page.getByRole('button', { name: 'Train', exact: true }).click();

  const view = page.getByTestId('train-job');
  await view.waitFor();
  // the curve is a plot that grows: a path with several points while the job runs or once done
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=loss-curve]')?.getAttribute('data-points') ?? 0) >= 3,
    null, { timeout: 300000 });
  const d = await page.getByTestId('loss-line').getAttribute('d');
  assert.ok(d && (d.match(/L/g) ?? []).length >= 2, `a polyline, got ${d}`);
  await shot('browser-train-running.png');
  // a reload past the event window: the page fetches the whole history once, the curve keeps every step
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=loss-curve]')?.getAttribute('data-points') ?? 0) >= 55,
    null, { timeout: 300000 });
  await page.reload();
  await view.waitFor();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid=loss-curve]')?.getAttribute('data-points') ?? 0) >= 55,
    null, { timeout: 60000 });
  const pts = await page.getByTestId('loss-curve').getAttribute('data-points');
  const ev = await page.request.get(server.url + '/api/jobs?limit=1');
  const dl = (await ev.json()).jobs[0].detail;
  assert.ok(dl.losses.length <= 50 && dl.loss_count >= 55, `the job JSON holds the latest 50 of ${dl.loss_count} (page shows ${pts})`);
  await page.waitForFunction(() => document.querySelector('[data-testid=train-job]')?.getAttribute('data-status') !== 'running',
    null, { timeout: 600000 });
  assert.equal(await view.getAttribute('data-status'), 'succeeded', await view.getByTestId('job-message').textContent());
  assert.equal(Number(await page.getByTestId('loss-curve').getAttribute('data-points')), 70, 'every step on the curve');
  assert.ok(await view.getByTestId('train-samples').locator('img').count() >= 2, 'the sample images');
  await view.getByText('Rooftop_nights.safetensors').waitFor();
  const card = page.getByTestId('style-card').filter({ hasText: 'Rooftop nights' });
  await card.waitFor();
  assert.equal(await card.locator('.status-pill').textContent(), 'lora');
  await card.getByText('<s1><s2>', { exact: true }).waitFor();
  await shot('browser-train-done.png');

  // the trained style is offered where backgrounds are drawn
  await page.getByRole('link', { name: 'Background' }).click();
  await page.getByLabel('Trained style').selectOption({ label: 'Rooftop nights' });
  await page.getByText('style of <s1><s2>').waitFor();
  assert.deepEqual(pageErrors, []);
});

test('Styles page: the time left is shown while training runs, and Cancel stops it', async () => {
  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  assert.ok(caps.kinds.some((k) => k.name === 'style.train' && k.available), 'style.train is offered with the tiny model');
  await page.getByRole('link', { name: 'Styles' }).click();
  await page.getByLabel('Style name').fill('Long run');
  await page.locator('details', { hasText: 'Training settings' }).evaluate((d) => { d.open = true; });
  await page.getByLabel('Steps, stage 1 (style words)').fill('2000');
  await page.getByLabel('Steps, stage 2 (LoRA)').fill('0');
  await page.getByLabel('Resolution (px)').fill('64');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid=train-job]')?.getAttribute('data-status') === 'running');
  await page.waitForFunction(() => /(min|minute|h) left/.test(document.querySelector('[data-testid=train-eta]')?.textContent ?? '') &&
    Number(document.querySelector('[data-testid=loss-curve]')?.getAttribute('data-points') ?? 0) >= 2, null, { timeout: 300000 });
  assert.match(await page.getByTestId('train-eta').textContent(), /(min|minute|h) left/);
  await page.getByTestId('train-job').getByRole('button', { name: 'Cancel' }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid=train-job]')?.getAttribute('data-status') === 'cancelled',
    null, { timeout: 120000 });
});

const shot = (name) => page.screenshot({ path: join(OUT, name), fullPage: true });
