// app.test.mjs — the web UI end to end in a real browser (Debian's chromium via playwright-core)
// against a real `oma serve`: sign up, create a webtoon, upload a generated PNG, run
// image.normalize and watch its progress bar reach 100%, save the result to the gallery and find
// it there (thumbnail, name, description, download), delete it; then edit a pose by dragging a
// wrist and check its hand followed in the saved OpenPose JSON. Screenshots go to tests/out/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, SOURCE_DIR } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';
import { makePng, pngSize } from '../lib/png.mjs';

const OUT = join(SOURCE_DIR, 'tests', 'out');
let server;
let browser;
let page;
const pageErrors = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
});

after(async () => {
  if (page && !page.isClosed()) await page.screenshot({ path: join(OUT, 'browser-last.png'), fullPage: true }).catch(() => {});
  await browser?.close();
  const r = await server?.stop();
  if (!server) return;
  // The server runs under ASan/UBSan in the test build: any report there fails the test.
  const log = server.log();
  if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) {
    console.error(log);
    throw new Error('oma serve reported a sanitizer error during the browser test');
  }
  if (r && r.code !== 0 && r.sig == null) console.error(`oma serve exited with ${r.code}:\n${log}`);
});

const shot = (name) => page.screenshot({ path: join(OUT, name), fullPage: true });

test('sign up, run image.normalize with live progress, save to the gallery, find and delete it', async (t) => {
  await page.goto(server.url + '/');
  // A wrong log-in shows the server's message and keeps the form.
  await page.getByRole('tab', { name: 'Log in' }).click();
  await page.getByLabel('Email').fill('nobody@example.com');
  await page.getByLabel('Password').fill('wrong-password-1');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('alert').waitFor();
  assert.ok((await page.getByRole('alert').textContent()).length > 0);
  await shot('browser-login-error.png');

  await page.getByRole('tab', { name: 'Sign up' }).click();
  await page.getByLabel('Name').fill('Mina Park');
  await page.getByLabel('Email').fill('mina@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.who', { hasText: 'Mina Park' }).waitFor();

  // No webtoon yet: the gallery says so. Create one from the header.
  await page.getByTestId('need-webtoon').waitFor();
  await page.getByRole('button', { name: 'New webtoon' }).click();
  await page.getByLabel('New webtoon name').fill('Moonlit Alley');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.waitForFunction(() => {
    const s = document.querySelector('#webtoon-select');
    return s && s.selectedOptions[0]?.textContent === 'Moonlit Alley';
  });

  // Tools: upload a generated 300x200 PNG and normalise it to a 128 px long side.
  await page.getByRole('link', { name: 'Tools' }).click();
  const png = makePng(300, 200, (x, y) => [x % 256, y % 256, (x * y) % 256]);
  await page.getByTestId('tools-image').locator('input[type=file]').setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: png });
  await page.getByTestId('tools-image').locator('figcaption', { hasText: '300×200' }).waitFor();
  await page.getByLabel('Longest side (px)').fill('128');
  await page.getByRole('button', { name: 'Run' }).click();

  const job = page.getByTestId('job').first();
  await job.waitFor();
  // Watch the bar: record every percent it shows until the job is final.
  const seen = await page.evaluate(() => new Promise((resolve, reject) => {
    const values = [];
    const t0 = Date.now();
    const tick = () => {
      const el = document.querySelector('[data-testid=job] [role=progressbar]');
      const status = document.querySelector('[data-testid=job]')?.getAttribute('data-status');
      if (el) {
        const v = Number(el.getAttribute('aria-valuenow'));
        if (values[values.length - 1] !== v) values.push(v);
      }
      if (status && status !== 'running') { resolve({ values, status }); return; }
      if (Date.now() - t0 > 60000) { reject(new Error('job did not finish in 60 s; saw ' + values.join(','))); return; }
      requestAnimationFrame(tick);
    };
    tick();
  }));
  t.diagnostic('progress seen: ' + seen.values.join(' → ') + ' %');
  assert.equal(seen.status, 'succeeded', 'job status; message: ' + await job.getByTestId('job-message').textContent());
  assert.equal(seen.values[seen.values.length - 1], 100, 'progress ends at 100%: ' + seen.values.join(','));
  for (let i = 1; i < seen.values.length; i++) assert.ok(seen.values[i] >= seen.values[i - 1], 'progress never goes back: ' + seen.values.join(','));
  assert.equal(await job.getByTestId('progress-percent').textContent(), '100%');
  // The bar itself is drawn full (after its CSS transition), not just labelled 100%.
  await page.waitForFunction(() => {
    const bar = document.querySelector('[data-testid=job] .progress .bar');
    return bar && Math.abs(bar.getBoundingClientRect().width - bar.parentElement.getBoundingClientRect().width) < 1;
  });

  // The output is shown, loads as an image, and is the normalised size.
  const firstOut = job.getByTestId('job-output').first();
  const img = firstOut.locator('img');
  await img.waitFor();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  const src = await img.getAttribute('src');
  const res = await page.request.get(server.url + src);
  assert.equal(res.status(), 200);
  const size = pngSize(Buffer.from(await res.body()));
  assert.ok(Math.max(size.width, size.height) <= 128 && size.width >= 64, `normalised size ${size.width}x${size.height}`);
  assert.equal(size.width % 8, 0); assert.equal(size.height % 8, 0);
  await shot('browser-tools.png');

  // Nothing lost on reload: the finished job and its output are still on the page.
  await page.reload();
  await page.locator('[data-testid=job][data-status=succeeded]').waitFor();
  const out2 = page.getByTestId('job-output').first();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await out2.locator('img').elementHandle());

  // Save it to the gallery with a name and a description.
  const out = out2;
  await out.getByRole('button', { name: 'Save to gallery' }).click();
  await out.getByLabel('Asset name').fill('Alley study');
  await out.getByLabel('Asset description').fill('Normalised reference for episode 3');
  await out.getByRole('button', { name: 'Save', exact: true }).click();
  await out.getByText('Saved to “Alley study”').waitFor();

  // Gallery: the asset is there with its name, description and a thumbnail that loads.
  await page.getByRole('link', { name: 'Gallery' }).click();
  const asset = page.getByTestId('asset').filter({ hasText: 'Alley study' });
  await asset.waitFor();
  assert.match(await asset.textContent(), /Normalised reference for episode 3/);
  const thumb = asset.locator('.asset-thumb img');
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await thumb.elementHandle());
  // The photo it was made from is kept beside it.
  const input = asset.getByTestId('asset-inputs').locator('img');
  await page.waitForFunction((el) => el.complete && el.naturalWidth === 300 && el.naturalHeight === 200, await input.elementHandle());
  const dl = await page.request.get(server.url + await asset.getByRole('link', { name: 'Download' }).getAttribute('href'));
  assert.equal(dl.status(), 200);
  assert.deepEqual(pngSize(Buffer.from(await dl.body())), size);
  await shot('browser-gallery.png');

  // Delete asks first; "Keep" keeps it, "Delete" removes it.
  await asset.getByRole('button', { name: 'Delete…' }).click();
  await asset.getByRole('button', { name: 'Keep' }).click();
  assert.equal(await page.getByTestId('asset').count(), 1);
  await asset.getByRole('button', { name: 'Delete…' }).click();
  await asset.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByTestId('asset').waitFor({ state: 'detached' });
  await page.getByText('Nothing saved yet').waitFor();
});

test('gallery pages through many assets; deleting the last ones on a page goes back a page', async () => {
  const api = (method, path, data) => page.request.fetch(server.url + path, { method, data });
  const w = await (await api('POST', '/api/webtoons', { name: 'Paging' })).json();
  const up = await page.request.post(server.url + '/api/uploads', {
    multipart: { file: { name: 'p.png', mimeType: 'image/png', buffer: makePng(40, 30, (x, y) => [x * 6, y * 8, 60]) } } });
  assert.equal(up.status(), 201);
  const uploadId = (await up.json()).id;
  const jobs = [];
  for (let i = 0; i < 14; i++) {
    const r = await api('POST', '/api/jobs', { kind: 'image.normalize', params: { max_side: 32 }, inputs: { image: uploadId }, webtoon_id: w.id });
    assert.equal(r.status(), 202);
    jobs.push((await r.json()).id);
  }
  for (const [i, id] of jobs.entries()) {
    let job;
    for (let k = 0; k < 300; k++) {
      job = await (await api('GET', `/api/jobs/${id}`)).json();
      if (['succeeded', 'failed', 'cancelled'].includes(job.status)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(job.status, 'succeeded');
    assert.equal((await api('POST', `/api/webtoons/${w.id}/assets`, { job_id: id, name: `Panel ${String(i + 1).padStart(2, '0')}` })).status(), 201);
  }
  await page.goto(server.url + '/#/gallery');
  await page.reload(); // a hash change alone does not reload the webtoon list
  await page.locator(`#webtoon-select option[value="${w.id}"]`).waitFor({ state: 'attached' });
  await page.locator('#webtoon-select').selectOption(w.id);
  await page.getByText('14 assets').waitFor();
  assert.equal(await page.getByTestId('asset').count(), 12);
  const first = await page.locator('.asset-name').allTextContents();
  await page.getByText('Page 1 of 2').waitFor();
  await page.getByRole('button', { name: 'Older →' }).click();
  await page.getByText('Page 2 of 2').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=asset]').length === 2);
  const second = await page.locator('.asset-name').allTextContents();
  // Both pages together hold every asset once. (Assets saved within the same second have no
  // defined order between them: created_at has 1 s resolution and ties break on random ids.)
  assert.deepEqual([...first, ...second].sort(), Array.from({ length: 14 }, (_, i) => `Panel ${String(i + 1).padStart(2, '0')}`));
  // Deleting the last ones on a page goes back to the previous page.
  for (const name of second) {
    const a = page.getByTestId('asset').filter({ hasText: name });
    await a.getByRole('button', { name: 'Delete…' }).click();
    await a.getByRole('button', { name: 'Delete', exact: true }).click();
    await a.waitFor({ state: 'detached' });
  }
  await page.getByText('12 assets').waitFor();
  await page.getByTestId('asset').first().waitFor();
  assert.equal(await page.getByTestId('asset').count(), 12);
  assert.equal(await page.locator('.pager').count(), 0);
  // Back to the first webtoon for the tests that follow; remove this one.
  assert.equal((await api('DELETE', `/api/webtoons/${w.id}`)).status(), 204);
  await page.reload();
  await page.waitForFunction(() => document.querySelector('#webtoon-select')?.selectedOptions[0]?.textContent === 'Moonlit Alley');
});

test('pose editor: dragging a wrist carries its hand, and the saved OpenPose JSON has the edit', async () => {
  await page.getByRole('link', { name: 'Pose' }).click();
  await page.getByRole('button', { name: 'Start from a standing figure' }).click();
  const svg = page.getByTestId('pose-svg');
  await svg.waitFor();
  const wrist = page.locator('[data-kp="0:body:4"]');
  const handTip = page.locator('[data-kp="0:right:8"]');
  const before = { wrist: await centre(wrist), tip: await centre(handTip) };
  await page.mouse.move(before.wrist.x, before.wrist.y);
  await page.mouse.down();
  await page.mouse.move(before.wrist.x + 40, before.wrist.y - 60, { steps: 8 });
  await page.mouse.up();
  const afterTip = await centre(handTip);
  const afterWrist = await centre(wrist);
  assert.ok(Math.abs(afterWrist.x - before.wrist.x - 40) < 3 && Math.abs(afterWrist.y - before.wrist.y + 60) < 3, 'wrist followed the mouse');
  assert.ok(Math.abs(afterTip.x - before.tip.x - 40) < 3 && Math.abs(afterTip.y - before.tip.y + 60) < 3, 'hand followed its wrist');
  await shot('browser-pose.png');
  // The edit survives a reload.
  await page.reload();
  await svg.waitFor();
  const reloaded = await centre(wrist);
  assert.ok(Math.abs(reloaded.x - afterWrist.x) < 1 && Math.abs(reloaded.y - afterWrist.y) < 1, 'edited pose kept across reload');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Save OpenPose JSON' }).click()]);
  const doc = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(doc.canvas_width, 512); assert.equal(doc.canvas_height, 768);
  const p = doc.people[0];
  assert.equal(p.pose_keypoints_2d.length, 54); assert.equal(p.face_keypoints_2d.length, 204);
  assert.equal(p.hand_left_keypoints_2d.length, 63); assert.equal(p.hand_right_keypoints_2d.length, 63);
  // The wrist moved up and right in image pixels, and the right hand's root sits on it.
  const [wx, wy] = p.pose_keypoints_2d.slice(12, 14);
  assert.ok(wx > 0.34 * 512 + 5 && wy < 0.5 * 768 - 5, `wrist moved: ${wx},${wy}`);
  assert.ok(Math.abs(p.hand_right_keypoints_2d[0] - wx) < 0.02 && Math.abs(p.hand_right_keypoints_2d[1] - wy) < 0.02);

  // Export the skeleton PNG drawn in the browser: canvas size, black background.
  const [png] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export skeleton PNG' }).click()]);
  await png.saveAs(join(OUT, 'browser-skeleton.png'));
  const bytes = readFileSync(await png.path());
  assert.deepEqual(pngSize(bytes), { width: 512, height: 768 });

  // Loading OpenPose JSON: a broken file is refused with its reason and the edit is kept;
  // a good one (two people, a short hand array left empty) replaces it.
  const jsonInput = page.locator('label.file-button', { hasText: 'Load OpenPose JSON' }).locator('input[type=file]');
  await jsonInput.setInputFiles({ name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from('{"people": [ {') });
  await page.getByRole('alert').filter({ hasText: 'broken.json: The file is not valid JSON.' }).waitFor();
  const short = { canvas_width: 300, canvas_height: 400, people: [{ pose_keypoints_2d: [1, 2, 1] }] };
  await jsonInput.setInputFiles({ name: 'short.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(short)) });
  await page.getByRole('alert').filter({ hasText: 'expected 54' }).waitFor();
  assert.equal(await page.locator('[data-kp^="0:body:"]').count(), 18, 'the edited pose is kept after a bad file');
  // A point absurdly far off the canvas is refused here, as the server's reader refuses it.
  const far = { canvas_width: 300, canvas_height: 400, people: [{ pose_keypoints_2d: Array.from({ length: 18 }, () => [1e6, 5, 1]).flat() }] };
  await jsonInput.setInputFiles({ name: 'far.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(far)) });
  await page.getByRole('alert').filter({ hasText: 'far.json' }).filter({ hasText: 'far outside the canvas' }).waitFor();
  // BODY_25 (OpenPose's default body model) loads as the 18-point body: mid-hip and feet dropped.
  const b25 = { canvas_width: 300, canvas_height: 400, people: [{ pose_keypoints_2d: Array.from({ length: 25 }, (_, i) => [20 + i * 10, 30 + i * 10, 1]).flat() }] };
  await jsonInput.setInputFiles({ name: 'body25.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(b25)) });
  await page.getByText('Loaded body25.json').waitFor();
  assert.equal(await page.locator('[data-kp^="0:body:"]').count(), 18);
  const body = (dx) => Array.from({ length: 18 }, (_, i) => [40 + dx + (i % 4) * 10, 40 + i * 15, 1]).flat();
  const two = { canvas_width: 300, canvas_height: 400, people: [{ pose_keypoints_2d: body(0) }, { pose_keypoints_2d: body(150), hand_left_keypoints_2d: [] }] };
  await jsonInput.setInputFiles({ name: 'two.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(two)) });
  await page.getByText('300×400 · 2 people').waitFor();
  assert.equal(await page.locator('[data-kp^="1:body:"]').count(), 18);
  assert.equal(await page.locator('[data-kp^="1:left:"]').count(), 0, 'an empty hand array means no hand');

  // A point the detector missed (confidence 0) is not drawn and can be added back; people can be added and removed.
  const gap = JSON.parse(JSON.stringify(two));
  gap.people[1].pose_keypoints_2d[13 * 3 + 2] = 0;
  await jsonInput.setInputFiles({ name: 'gap.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(gap)) });
  await page.getByText('Loaded gap.json').waitFor();
  assert.equal(await page.locator('[data-kp="1:body:13"]').count(), 0);
  await page.getByTestId('pose-person').nth(1).getByRole('button', { name: '+ left ankle' }).click();
  await page.locator('[data-kp="1:body:13"]').waitFor();
  await page.getByRole('button', { name: 'Add a person' }).click();
  await page.getByText('300×400 · 3 people').waitFor();
  await page.getByTestId('pose-person').nth(0).getByRole('button', { name: 'Remove person' }).click();
  await page.getByText('300×400 · 2 people').waitFor();
  assert.equal(await page.locator('[data-kp="0:body:13"]').count(), 1, 'the former person 2 (with its added ankle) is now person 1');

  // Undo (button and Ctrl+Z) walks back through the edits.
  await page.getByRole('button', { name: /^Undo/ }).click();
  await page.getByText('300×400 · 3 people').waitFor();
  await page.keyboard.press('Control+z');
  await page.getByText('300×400 · 2 people').waitFor();
  assert.equal(await page.locator('[data-kp="1:body:13"]').count(), 1, 'the added ankle is still there');

  // Arrow keys nudge the selected point: 1 px, Shift 10 px, in image pixels.
  const neck = page.locator('[data-kp="0:body:1"]');
  const x0 = Number(await neck.getAttribute('cx'));
  const c = await centre(neck);
  await page.mouse.move(c.x, c.y);
  await page.mouse.down();
  await page.mouse.up();
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  await page.keyboard.press('Shift+ArrowRight');
  await page.waitForFunction((want) => Math.abs(Number(document.querySelector('[data-kp="0:body:1"]').getAttribute('cx')) - want) < 0.01, x0 + 13);
  await page.keyboard.press('Control+z');
  await page.waitForFunction((want) => Math.abs(Number(document.querySelector('[data-kp="0:body:1"]').getAttribute('cx')) - want) < 0.01, x0 + 3);
});

test('styles: samples are uploaded to the webtoon and removable; a style is learned when style.profile is available', async (t) => {
  await page.getByRole('link', { name: 'Styles' }).click();
  const colours = [[200, 60, 40], [40, 90, 200], [230, 220, 200]];
  const files = colours.map((c, i) => ({
    name: `panel-${i}.png`, mimeType: 'image/png',
    buffer: makePng(96, 96, (x, y) => ((x + y) % 24 < 3 ? [20, 20, 20] : c)),
  }));
  await page.getByTestId('style-samples').locator('input[type=file]').setInputFiles(files);
  await page.getByRole('button', { name: 'Add 3 to the webtoon' }).click();
  await page.getByText('3 / 50').waitFor();
  const sampleThumbs = page.locator('main section.card > .thumbs .thumb');
  assert.equal(await sampleThumbs.count(), 3);
  // The server really holds them.
  const wid = await page.evaluate(() => document.querySelector('#webtoon-select').value);
  const w = await (await page.request.get(`${server.url}/api/webtoons/${wid}`)).json();
  assert.equal(w.samples.length, 3);

  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  if (caps.kinds.some((k) => k.name === 'style.profile' && k.available)) {
    t.diagnostic('style.profile is available: learning a style');
    await page.getByLabel('Style name').fill('Test panels');
    await page.getByRole('button', { name: 'Learn style' }).click();
    await page.locator('[data-testid=job][data-status=succeeded]').waitFor({ timeout: 60000 });
    const card = page.getByTestId('style-card').filter({ hasText: 'Test panels' });
    await card.waitFor();
    assert.ok(await card.locator('.swatch').count() >= 1, 'the style card shows palette swatches');
  } else {
    t.diagnostic('style.profile not available on this server: checked the notice instead');
    await page.getByTestId('unavailable').waitFor();
  }
  await shot('browser-styles.png');
  await sampleThumbs.first().getByRole('button', { name: 'Remove sample' }).click();
  await page.getByText('2 / 50').waitFor();
});

test('pose: detect a real photo, drag the target pose, render it and warp the photo (pose.* kinds)', async (t) => {
  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  const has = (k) => caps.kinds.some((x) => x.name === k && x.available);
  const photo = join(SOURCE_DIR, 'tests', 'data', 'pose', 'astronaut.png');
  if (!has('pose.estimate') || !existsSync(photo)) {
    t.skip(`needs pose.estimate (available: ${has('pose.estimate')}) and ${photo} (scripts/fetch-test-data.sh)`);
    return;
  }
  await page.getByRole('link', { name: 'Pose' }).click();
  await page.getByTestId('pose-reference').locator('input[type=file]').setInputFiles(photo);
  await page.getByTestId('pose-reference').locator('figcaption', { hasText: '512×512' }).waitFor();
  await page.getByRole('button', { name: 'Detect pose' }).click();
  await page.locator('[data-testid=job][data-status=succeeded]').first().waitFor({ timeout: 120000 });
  await page.getByText(/Found 1 person/).waitFor();
  await page.getByText('512×512 · 1 person').waitFor();
  /* a half-body photo: MoveNet (the body points since issue 14) reports the 8 it sees (nose,
   * eyes, ears, neck, shoulders); points below 0.3 are left out rather than guessed */
  assert.ok(await page.locator('[data-kp^="0:body:"]').count() >= 8, 'the visible body points detected');

  // Drag the nose: the face follows it.
  const nose = page.locator('[data-kp="0:body:0"]');
  const face = page.locator('[data-kp^="0:face:"]');
  const hasFace = await face.count() > 0;
  const n0 = await centre(nose);
  const f0 = hasFace ? await centre(face.first()) : null;
  await page.mouse.move(n0.x, n0.y);
  await page.mouse.down();
  await page.mouse.move(n0.x + 25, n0.y + 10, { steps: 5 });
  await page.mouse.up();
  const n1 = await centre(nose);
  assert.ok(Math.abs(n1.x - n0.x - 25) < 3 && Math.abs(n1.y - n0.y - 10) < 3, 'nose moved');
  if (f0) {
    const f1 = await centre(face.first());
    assert.ok(Math.abs(f1.x - f0.x - 25) < 3 && Math.abs(f1.y - f0.y - 10) < 3, 'face followed the nose');
  }
  await shot('browser-pose-detected.png');

  if (has('pose.render')) {
    await page.getByRole('button', { name: 'Render skeleton on the server' }).click();
    const job = page.getByTestId('job').filter({ hasText: 'Skeleton' }).first();
    await job.and(page.locator('[data-status=succeeded]')).waitFor({ timeout: 60000 });
    const src = await job.getByTestId('job-output').first().locator('img').getAttribute('src');
    const res = await page.request.get(server.url + src);
    assert.deepEqual(pngSize(Buffer.from(await res.body())), { width: 512, height: 512 });
  }
  if (has('pose.warp')) {
    await page.getByRole('button', { name: 'Warp to edited pose' }).click();
    const job = page.getByTestId('job').filter({ hasText: 'Warped character' }).first();
    await job.waitFor();
    await page.waitForFunction(() => {
      const j = [...document.querySelectorAll('[data-testid=job]')].find((e) => e.textContent.includes('Warped character'));
      return j && j.getAttribute('data-status') !== 'running';
    }, null, { timeout: 120000 });
    assert.equal(await job.getAttribute('data-status'), 'succeeded', await job.getByTestId('job-message').textContent());
    const img = job.getByTestId('job-output').first().locator('img');
    await page.waitForFunction((el) => el.complete && el.naturalWidth === 512, await img.elementHandle());
  }
  await shot('browser-pose-warp.png');
});

test('background without SD: line + tone conversion of a real photo with the learned style (convert.lineart)', async (t) => {
  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  const photo = join(SOURCE_DIR, 'tests', 'data', 'pose', 'camera.png');
  if (!caps.kinds.some((k) => k.name === 'convert.lineart' && k.available) || !existsSync(photo)) {
    t.skip(`needs convert.lineart and ${photo} (scripts/fetch-test-data.sh)`);
    return;
  }
  await page.getByRole('link', { name: 'Background' }).click();
  await page.getByRole('heading', { name: 'Line + tone conversion' }).waitFor();
  await page.locator('main input[type=file]').setInputFiles(photo);
  await page.locator('main figcaption', { hasText: '512×512' }).waitFor();
  const styleSelect = page.getByLabel(/^Style/);
  const learned = await styleSelect.locator('option', { hasText: 'Test panels' }).count();
  if (learned) await styleSelect.selectOption({ label: 'Test panels' });
  t.diagnostic(learned ? 'using the style learned above' : 'no learned style: default options');
  await page.getByLabel('Tone type').selectOption('dots');
  await page.getByLabel('Layered PSD too').check();
  await page.getByRole('button', { name: 'Convert' }).click();
  await page.getByTestId('job').first().waitFor({ timeout: 10000 }).catch(async () => {
    throw new Error('no job started: ' + await page.locator('main [role=alert]').allTextContents());
  });
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid=job]')?.getAttribute('data-status');
    return s && s !== 'running';
  }, null, { timeout: 120000 });
  const job = page.getByTestId('job').first();
  assert.equal(await job.getAttribute('data-status'), 'succeeded', await job.getByTestId('job-message').textContent());
  const names = (await job.getByTestId('job-output').locator('.small').allTextContents()).map((n) => n.split(' ·')[0]);
  for (const want of ['image.png', 'lines.png', 'flats.png', 'tones.png', 'layers.psd']) assert.ok(names.includes(want), `output ${want} in ${names}`);
  for (const img of await job.getByTestId('job-output').locator('img').elementHandles()) {
    await page.waitForFunction((el) => el.complete && el.naturalWidth === 512, img);
  }
  await shot('browser-lineart.png');
});

test('every page renders, says plainly what is unavailable, and no script error happened', async () => {
  const caps = await (await page.request.get(server.url + '/api/capabilities')).json();
  const available = new Set(caps.kinds.filter((k) => k.available).map((k) => k.name));
  for (const [link, kinds] of [['Background', ['generate.txt2img', 'generate.img2img', 'convert.lineart']]]) {
    await page.getByRole('link', { name: link }).click();
    await page.locator('main .card').first().waitFor();
    const notice = page.getByTestId('unavailable');
    if (kinds.every((k) => !available.has(k))) await notice.first().waitFor();
    await shot(`browser-${link.toLowerCase()}.png`);
  }
  assert.equal(await page.getByTestId('no-workers').count(), 0, 'no "no workers" banner on a server with workers');
  assert.deepEqual(pageErrors, []);
});

test('webtoons: create and switch, delete after confirming; log out and back in', async () => {
  const select = page.locator('#webtoon-select');
  const first = await select.inputValue();
  await page.getByRole('button', { name: 'New webtoon' }).click();
  await page.getByLabel('New webtoon name').fill('Second Series');
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.waitForFunction(() => document.querySelector('#webtoon-select')?.selectedOptions[0]?.textContent === 'Second Series');
  assert.equal(await select.locator('option').count(), 2);
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  await page.getByText('Delete “Second Series” with its gallery and styles?').waitFor();
  await page.getByRole('button', { name: 'Delete webtoon' }).click();
  await page.waitForFunction(() => document.querySelectorAll('#webtoon-select option').length === 1);
  assert.equal(await select.inputValue(), first);
  const list = await (await page.request.get(server.url + '/api/webtoons')).json();
  assert.deepEqual(list.webtoons.map((w) => w.name), ['Moonlit Alley']);

  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  assert.equal((await page.request.get(server.url + '/api/me')).status(), 401);
  await page.getByLabel('Email').fill('mina@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('.who', { hasText: 'Mina Park' }).waitFor();
  // The webtoons load right after; the one worked on before is selected again.
  await page.waitForFunction((id) => document.querySelector('#webtoon-select')?.value === id, first);

  // The session ends behind the page's back (here: logged out through the API): the next call
  // gets 401 and the app returns to the log-in page instead of showing errors everywhere.
  assert.equal((await page.request.post(server.url + '/api/auth/logout')).status(), 204);
  // Any call may be the first to see the 401 (a background refresh can beat the click, and then
  // the link is gone before it is clicked): either way the page must end up at the log-in form.
  await page.getByRole('link', { name: 'Styles' }).click({ timeout: 5000 }).catch(() => {}); // loads samples and styles
  await page.getByRole('button', { name: 'Log in' }).waitFor();
  assert.deepEqual(pageErrors, []);
});

async function centre(locator) {
  const b = await locator.boundingBox();
  assert.ok(b, 'element is visible');
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
}

test('background: txt2img and img2img candidates from the tiny SD fixture model, saved to the gallery with the photo (generate.* kinds)', async (t) => {
  const models = join(SOURCE_DIR, 'tests', 'fixtures', 'sd', 'tiny-sd');
  const sd = await startServer({ env: { OMA_MODELS: models } });
  try {
    const caps = await (await page.request.get(sd.url + '/api/capabilities')).json();
    if (!caps.kinds.some((k) => k.name === 'generate.txt2img' && k.available)) {
      t.skip(`generate.txt2img is not available with OMA_MODELS=${models}`);
      return;
    }
    assert.equal((await page.request.post(sd.url + '/api/auth/signup', {
      data: { email: 'ana@example.com', password: 'a long enough password', name: 'Ana' } })).status(), 201);
    assert.equal((await page.request.post(sd.url + '/api/webtoons', { data: { name: 'Harbour' } })).status(), 201);
    await page.goto(sd.url + '/#/background');
    await page.getByRole('heading', { name: 'Generate a background' }).waitFor();
    await page.getByLabel('Prompt', { exact: true }).fill('a harbour at dawn, (clean lines:1.2)');
    await page.getByLabel('Sampler').selectOption('Euler a');
    await page.getByLabel('Steps').fill('2'); // random weights: the pixels mean nothing, the path is what is tested
    await page.getByLabel('Seed').fill('42');
    await page.getByLabel('Size').selectOption('256');
    await page.getByLabel('Candidates').fill('2');
    await page.getByRole('button', { name: 'Generate' }).click();
    const job = page.getByTestId('job').first();
    await page.waitForFunction(() => {
      const s = document.querySelector('[data-testid=job]')?.getAttribute('data-status');
      return s && s !== 'running';
    }, null, { timeout: 300000 });
    assert.equal(await job.getAttribute('data-status'), 'succeeded', await job.getByTestId('job-message').textContent());
    const outs = job.getByTestId('job-output');
    assert.equal(await outs.count(), 2, 'two candidates');
    for (let i = 0; i < 2; i++) {
      const src = await outs.nth(i).locator('img').getAttribute('src');
      assert.deepEqual(pngSize(Buffer.from(await (await page.request.get(sd.url + src)).body())), { width: 256, height: 256 });
    }
    await outs.nth(1).getByRole('button', { name: 'Save to gallery' }).click();
    await outs.nth(1).getByLabel('Asset name').fill('Harbour dawn');
    await outs.nth(1).getByRole('button', { name: 'Save', exact: true }).click();
    await outs.nth(1).getByText('Saved to “Harbour dawn”').waitFor();
    await shot('browser-background-generated.png');
    await page.getByRole('link', { name: 'Gallery' }).click();
    await page.getByTestId('asset').filter({ hasText: 'Harbour dawn' }).waitFor();

    // img2img from a photo: one job per candidate strength; the saved one keeps the photo beside it.
    if (caps.kinds.some((k) => k.name === 'generate.img2img' && k.available)) {
      await page.getByRole('link', { name: 'Background' }).click();
      await page.locator('main input[type=file]').setInputFiles({ name: 'quay.png', mimeType: 'image/png',
        buffer: makePng(256, 256, (x, y) => [(x * 7) % 256, (y * 3) % 256, ((x + y) * 5) % 256]) });
      await page.locator('main figcaption', { hasText: '256×256' }).waitFor();
      await page.getByLabel('Candidates').fill('2');
      // The form kept the prompt and settings from the txt2img run across the page switch; 2 steps
      // at strength 0.45 would run no step at all, which the form says before asking the server.
      assert.equal(await page.getByLabel('Prompt', { exact: true }).inputValue(), 'a harbour at dawn, (clean lines:1.2)');
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.getByRole('alert').filter({ hasText: 'runs no denoising step' }).waitFor();
      await page.getByLabel('Steps').fill('4');
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.getByText('Strength 0.65').waitFor();
      await page.waitForFunction(() => {
        const jobs = [...document.querySelectorAll('[data-testid=job]')];
        return jobs.length === 2 && jobs.every((j) => j.getAttribute('data-status') !== 'running');
      }, null, { timeout: 300000 });
      const cards = page.getByTestId('job');
      for (let i = 0; i < 2; i++) {
        assert.equal(await cards.nth(i).getAttribute('data-status'), 'succeeded', await cards.nth(i).getByTestId('job-message').textContent());
      }
      const strong = cards.filter({ hasText: 'Strength 0.65' }).getByTestId('job-output').first();
      await strong.getByRole('button', { name: 'Save to gallery' }).click();
      await strong.getByLabel('Asset name').fill('Quay strong');
      await strong.getByRole('button', { name: 'Save', exact: true }).click();
      await strong.getByText('Saved to “Quay strong”').waitFor();
      await page.getByRole('link', { name: 'Gallery' }).click();
      const asset = page.getByTestId('asset').filter({ hasText: 'Quay strong' });
      await asset.waitFor();
      await page.waitForFunction((el) => el.complete && el.naturalWidth === 256, await asset.getByTestId('asset-inputs').locator('img').elementHandle());
      await shot('browser-background-img2img-gallery.png');
    }
  } finally {
    await sd.stop();
    assert.doesNotMatch(sd.log(), /AddressSanitizer|LeakSanitizer|runtime error:/);
  }
});

test('cancel: a queued job (its one worker busy) is cancelled from its card', async () => {
  // A second server with one worker, kept busy by a long txt2img on the tiny SD model, keeps
  // the next job queued, so cancelling is deterministic. (A server with no workers at all no
  // longer offers the kinds: capabilities need a live worker since the scale-out work.)
  // It runs last: its session cookie (same host, other port) replaces the first one's.
  const models = join(SOURCE_DIR, 'tests', 'fixtures', 'sd', 'tiny-sd');
  const idle = await startServer({ workers: 1, env: { OMA_MODELS: models } });
  let blocker = null;
  try {
    const signup = await page.request.post(idle.url + '/api/auth/signup', {
      data: { email: 'jun@example.com', password: 'another long password', name: 'Jun' } });
    assert.equal(signup.status(), 201);
    const w = await page.request.post(idle.url + '/api/webtoons', { data: { name: 'Idle' } });
    assert.equal(w.status(), 201);
    const b = await page.request.post(idle.url + '/api/jobs', { data: { kind: 'generate.txt2img',
      params: { prompt: 'keeps the worker busy', steps: 150, width: 192, height: 192 }, webtoon_id: (await w.json()).id } });
    assert.equal(b.status(), 202, await b.text());
    blocker = (await b.json()).id;
    await page.goto(idle.url + '/#/tools');
    await page.locator('.who', { hasText: 'Jun' }).waitFor();
    await page.getByTestId('tools-image').locator('input[type=file]')
      .setInputFiles({ name: 'flat.png', mimeType: 'image/png', buffer: makePng(64, 48, () => [90, 120, 150]) });
    await page.getByTestId('tools-image').locator('figcaption', { hasText: '64×48' }).waitFor();
    await page.getByRole('button', { name: 'Run' }).click();
    const job = page.getByTestId('job').first();
    await job.locator('.status-pill', { hasText: 'queued' }).waitFor();
    assert.equal(await job.getByTestId('progress-percent').textContent(), '0%');
    await job.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('[data-testid=job][data-status=cancelled]').waitFor();
    assert.equal(await job.getByTestId('job-message').textContent(), 'Cancelled');
    assert.equal(await job.getByTestId('job-output').count(), 0);
    await shot('browser-cancelled.png');
  } finally {
    if (blocker) await page.request.delete(idle.url + '/api/jobs/' + blocker);
    const r = await idle.stop();
    assert.doesNotMatch(idle.log(), /AddressSanitizer|LeakSanitizer|runtime error:/);
    assert.ok(r.code === 0 || r.sig === 'SIGTERM', `second server exit ${r.code ?? r.sig}`);
  }
});
