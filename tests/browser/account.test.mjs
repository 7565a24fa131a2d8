// account.test.mjs — the Account page in a real browser against a real `oma serve`: the name in
// the header leads there; an API token is made, its secret shown once and accepted by the
// AUTOMATIC1111-compatible API (Bearer, and HTTP Basic with the e-mail); the list shows when it
// was last used and never the secret; revoking it stops it at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, SOURCE_DIR } from './lib/server.mjs';
import { launchBrowser } from './lib/browser.mjs';

const OUT = join(SOURCE_DIR, 'tests', 'out');
let server, browser, page;
const pageErrors = [];

before(async () => {
  mkdirSync(OUT, { recursive: true });
  server = await startServer();
  browser = await launchBrowser();
  page = await browser.context.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  if (page && !page.isClosed()) await page.screenshot({ path: join(OUT, 'browser-account-last.png'), fullPage: true }).catch(() => {});
  await browser?.close();
  await server?.stop();
  const log = server?.log() ?? '';
  if (/AddressSanitizer|LeakSanitizer|runtime error:/.test(log)) {
    console.error(log);
    throw new Error('oma serve reported a sanitizer error during the browser test');
  }
});

test('make an API token on the Account page, use it with the A1111 API, revoke it', async () => {
  await page.goto(server.url + '/');
  await page.getByRole('tab', { name: 'Sign up' }).click();
  await page.getByLabel('Name').fill('Jun Seo');
  await page.getByLabel('Email').fill('jun@example.com');
  await page.getByLabel('Password').fill('correct horse battery');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.locator('.who', { hasText: 'Jun Seo' }).click();
  await page.getByRole('heading', { name: 'API tokens' }).waitFor();
  await page.getByText('No tokens yet.').waitFor();

  await page.getByLabel('Token name').fill('Krita plugin');
  await page.getByRole('button', { name: 'Make a token' }).click();
  const secret = (await page.getByTestId('token-secret').textContent()).trim();
  assert.match(secret, /^oma_[0-9a-f]{64}$/);
  await page.getByTestId('token-row').filter({ hasText: 'Krita plugin' }).waitFor();
  await page.screenshot({ path: join(OUT, 'browser-account-token.png'), fullPage: true });

  const bearer = await fetch(`${server.url}/sdapi/v1/samplers`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(bearer.status, 200);
  assert.ok((await bearer.json()).length >= 1);
  const basic = await fetch(`${server.url}/sdapi/v1/options`, { headers: { authorization: 'Basic ' + Buffer.from(`jun@example.com:${secret}`).toString('base64') } });
  assert.equal(basic.status, 200);

  // after a reload the secret is gone for good; the row says it was used
  await page.reload();
  const row = page.getByTestId('token-row').filter({ hasText: 'Krita plugin' });
  await row.waitFor();
  assert.equal(await page.getByTestId('new-token').count(), 0);
  assert.ok(!(await page.content()).includes(secret.slice(4)), 'the secret is not on the page any more');
  assert.ok(!(await row.textContent()).includes('never'), 'last used is shown');

  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.getByText('No tokens yet.').waitFor();
  const after = await fetch(`${server.url}/sdapi/v1/samplers`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(after.status, 401);
  assert.deepEqual(pageErrors, []);
});
