/**
 * The chat demo in real headless Chromium (Debian's `chromium`, driven by playwright-core): two
 * tabs open /demo/chat, one posts, both show the message. Skips without chromium on a developer's
 * machine; fails under CI (`CI` set), where `.ci/run` installs it. `WEIR_CHROMIUM` names another
 * browser binary.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { chromiumMissing, chromiumPath } from '../../util/testing/chromium.js';
import { startTestHttp } from './testing-http.js';

const waitMs = 10_000;

test('chat demo: a message posted in one tab shows in every tab', async (t) => {
  const missing = chromiumMissing();
  if (missing !== null) return t.skip(missing);
  const http = await startTestHttp();
  const browser = await chromium.launch({ executablePath: chromiumPath, headless: true });
  try {
    const errors: string[] = [];
    const open = async (): Promise<import('playwright-core').Page> => {
      const page = await browser.newPage();
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
      await page.goto(`${http.base}/demo/chat`);
      await page.locator('#status', { hasText: 'connected' }).waitFor({ timeout: waitMs });
      return page;
    };
    const alice = await open();
    const bob = await open();
    await alice.fill('#name', 'alice');
    await alice.fill('#text', 'hello from alice');
    await alice.press('#text', 'Enter');
    for (const page of [alice, bob]) {
      await page.locator('#log li', { hasText: 'hello from alice' }).waitFor({ timeout: waitMs });
      assert.equal(await page.locator('#log li .name').first().textContent(), 'alice');
    }
    await bob.fill('#text', '<b>not markup</b>');
    await bob.press('#text', 'Enter');
    await alice.locator('#log li', { hasText: '<b>not markup</b>' }).waitFor({ timeout: waitMs });
    assert.equal(await alice.locator('#log b').count(), 0, 'message text is shown as text');
    assert.deepEqual(errors, []);
    const stored = await http.call('GET', '/v1/topics/chat/partitions/0/messages');
    assert.equal(stored.body.messages.length, 2);
  } finally {
    await browser.close();
    await http.stop();
  }
});
