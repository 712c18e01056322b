/**
 * The web console in real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a real broker serving HTTP on a free port. Data is created through the HTTP API first:
 * a topic with messages, a consumer group with committed offsets (and a live member, joined with
 * the native client), a queue subscription with a message in flight, one scheduled, and one
 * rejected into its dead-letter topic. Each page must load with no page error and no
 * console error and show that data; a topic created, edited and deleted in the page, and a
 * dead-letter replay clicked in the page, must show in the API.
 *
 * Without chromium the test skips on a developer's machine and fails under CI (`CI` set), where
 * `.ci/run` installs it. `WEIR_SCREENSHOTS=1` saves docs/console/<page>.png (for the README).
 * `WEIR_CHROMIUM` names another browser binary.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connect, type Client, type Consumer } from '../client/index.js';
import { silentLogger } from '../util/logger.js';
import { chromiumMissing, chromiumPath } from '../util/testing/chromium.js';
import { startServer, type RunningServer } from './server.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const consoleIndex = join(repoRoot, 'dist', 'console', 'index.html');
const screenshotDir = join(repoRoot, 'docs', 'console');
const screenshots = process.env['WEIR_SCREENSHOTS'] === '1';
const waitMs = 10_000;

const topic = 'console-orders';
const group = 'console-billing';
const subscription = 'console-mailer';
const deadLetterTopic = `${topic}.${subscription}.dlq`;
const rejectReason = 'console test: address bounced';

let server: RunningServer | undefined;
let dataDir: string;
let base: string;
let browser: Browser | undefined;
let client: Client | undefined;
let member: Consumer | undefined;
let skipReason: string | null = null;

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  assert.ok(response.ok, `${method} ${path} answered ${response.status}: ${text}`);
  return (text.length > 0 ? JSON.parse(text) : undefined) as T;
}

/** `YYYY-MM-DDTHH:mm:ss` in local time, as a datetime-local input takes it (the browser runs here, same zone). */
function localInput(timestampMs: number): string {
  const local = new Date(timestampMs - new Date(timestampMs).getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 19);
}

interface TopicJson {
  partitions: { partition: number; offsetEnd: number }[];
}

async function createData(): Promise<void> {
  await api('POST', '/v1/topics', { name: topic, partitions: 2 });
  const messages = Array.from({ length: 6 }, (_, i) => ({
    key: `customer-${i % 3}`,
    value: JSON.stringify({ order: 1000 + i, total: 12.5 * (i + 1) }),
    headers: { 'trace-id': `trace-${i}` },
    partition: i % 2,
  }));
  await api('POST', `/v1/topics/${topic}/messages`, { messages });
  await joinGroup();
  // A queue subscription whose one rejected message goes to its dead-letter topic.
  await api('PUT', `/v1/topics/${topic}/subscriptions/${subscription}`, { startAt: 'earliest', ackTimeoutMs: 60_000 });
  const received = await api<{ messages: { receipt: string; value: string }[] }>(
    'GET',
    `/v1/topics/${topic}/messages?subscription=${subscription}&type=queue&max=1&waitMs=2000`,
  );
  assert.equal(received.messages.length, 1, 'the queue subscription delivered a message');
  await api('POST', `/v1/topics/${topic}/subscriptions/${subscription}/reject`, { receipts: [received.messages[0]!.receipt], reason: rejectReason });
  // Two more: one stays in flight (leased, never settled), one goes back with a long delay.
  const leased = await api<{ messages: { receipt: string }[] }>('GET', `/v1/topics/${topic}/messages?subscription=${subscription}&type=queue&max=2&waitMs=2000`);
  assert.equal(leased.messages.length, 2);
  await api('POST', `/v1/topics/${topic}/subscriptions/${subscription}/nack`, { receipts: [leased.messages[1]!.receipt], delayMs: 600_000 });
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { deadLetters } = await api<{ deadLetters: unknown[] }>('GET', `/v1/dead-letters/${deadLetterTopic}`).catch(() => ({ deadLetters: [] }));
    if (deadLetters.length > 0) break;
    assert.ok(Date.now() < deadline, `no dead letter in ${deadLetterTopic} within ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A live member of `group` (native protocol) that consumed and committed two messages. */
async function joinGroup(): Promise<void> {
  client = await connect(`weir://127.0.0.1:${server!.nativePort}`, { clientId: 'console-test' });
  member = client.consumer({ groupId: group, topics: [topic], from: 'earliest', mode: 'pull', autoCommit: false });
  await member.start();
  const iterator = member[Symbol.asyncIterator]();
  for (let i = 0; i < 2; i++) assert.equal((await iterator.next()).done, false);
  await member.commit();
}

before(async () => {
  skipReason = chromiumMissing();
  if (skipReason !== null) return;
  assert.ok(existsSync(consoleIndex), `${consoleIndex} is missing: build the console first (npm run build:console)`);
  dataDir = await mkdtemp(join(tmpdir(), 'weir-console-'));
  server = await startServer({
    dataDir,
    host: '127.0.0.1',
    port: 0,
    kafkaPort: null,
    httpPort: 0,
    autoCreateTopics: false,
    defaultTopicConfig: {},
    logger: silentLogger,
  });
  base = `http://127.0.0.1:${server.httpPort}`;
  await createData();
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true });
});

after(async () => {
  await browser?.close();
  await member?.close();
  await client?.close();
  await server?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** A page that records every page error and console error. */
async function openPage(): Promise<{ page: Page; problems: string[] }> {
  const problems: string[] = [];
  const page = await browser!.newPage({ viewport: { width: 1360, height: 860 } });
  page.setDefaultTimeout(waitMs);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  return { page, problems };
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (!screenshots) return;
  await mkdir(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

async function finish(page: Page, problems: string[], name: string): Promise<void> {
  await screenshot(page, name);
  await page.close();
  assert.deepEqual(problems, [], `${name}: the page reported problems`);
}

test('overview shows health, counts and live throughput', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const { page, problems } = await openPage();
  await page.goto(`${base}/console/#/overview`);
  await page.getByText('ready', { exact: true }).waitFor();
  await page.locator('table').getByRole('link', { name: topic, exact: true }).waitFor();
  // Produce while the page samples, so the chart has something to draw (longer for a screenshot).
  const rounds = screenshots ? 60 : 8;
  for (let round = 0; round < rounds; round++) {
    const count = 20 + Math.round(15 * (1 + Math.sin(round / 6)));
    const messages = Array.from({ length: count }, (_, i) => ({
      key: `customer-${(round * 7 + i) % 40}`,
      value: JSON.stringify({ order: 2000 + round * 100 + i, total: Math.round(((round + i) % 17) * 3.25 * 100) / 100 }),
      headers: { 'trace-id': `load-${round}-${i}` },
    }));
    await api('POST', `/v1/topics/${topic}/messages`, { messages });
    await page.waitForTimeout(300);
  }
  await page.locator('svg.chart path.line').first().waitFor();
  const rate = await page.locator('.card-title .figure').first().textContent();
  assert.match(rate ?? '', /msg\/s/);
  if (screenshots) {
    await page.emulateMedia({ colorScheme: 'dark' });
    await screenshot(page, 'overview-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  }
  await finish(page, problems, 'overview');
});

test('topics lists the topic with partitions, offsets and configuration', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const { page, problems } = await openPage();
  await page.goto(`${base}/console/#/topics`);
  await page.getByTestId('topics-table').getByRole('link', { name: topic, exact: true }).click();
  const detail = page.getByTestId('topic-detail');
  await detail.getByRole('heading', { name: topic }).waitFor();
  const partitions = detail.getByTestId('partitions-table').locator('tbody tr');
  assert.equal(await partitions.count(), 2);
  const { partitions: states } = await api<TopicJson>('GET', `/v1/topics/${topic}`);
  const endText = await partitions.nth(0).locator('td').nth(2).textContent();
  assert.equal(endText?.trim(), String(states[0]!.offsetEnd));
  await detail.getByText('retentionMs').waitFor();
  await detail.getByText('timestampAheadMsMax').waitFor();
  await detail.getByText('timestampBehindMsMax').waitFor();
  await detail.getByRole('link', { name: subscription }).waitFor();
  await screenshot(page, 'topics');

  // Create a topic from the page, see it in the API, then delete it from the page.
  await page.getByRole('button', { name: 'New topic' }).click();
  const create = page.getByTestId('create-topic');
  await create.getByLabel('Name').fill('console-made');
  await create.getByLabel('Partitions').fill('3');
  await create.getByLabel('Timestamps ahead, at most (hours)').fill('2');
  await create.getByLabel('Timestamps behind, at most (hours)').fill('24');
  await page.getByRole('button', { name: 'Create topic' }).click();
  await page.getByText('Created topic console-made.').waitFor();
  const made = await api<TopicConfigJson>('GET', '/v1/topics/console-made');
  assert.equal(made.partitions.length, 3);
  assert.equal(made.config.timestampAheadMsMax, 2 * 3_600_000);
  assert.equal(made.config.timestampBehindMsMax, 24 * 3_600_000);
  await createUnbounded(page);
  await page.close();
  assert.deepEqual(problems, []);

  const second = await openPage();
  await second.page.goto(`${base}/console/#/topics?topic=console-made`);
  await editTopic(second.page, second.problems, made);
  await second.page.getByRole('button', { name: 'Delete…' }).click();
  await second.page.getByRole('button', { name: 'Delete console-made and its data' }).click();
  await second.page.getByText('Deleted topic console-made.').waitFor();
  const { topics } = await api<{ topics: { name: string }[] }>('GET', '/v1/topics');
  assert.ok(!topics.some((t) => t.name === 'console-made'), 'the topic deleted in the page is gone');
  await second.page.close();
  assert.deepEqual(second.problems, []);
});

/**
 * Creates console-unbounded from the page with every "no limit" box ticked (hours typed first
 * are not sent): the request asks for none, which an empty field cannot (it takes the default).
 */
async function createUnbounded(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'New topic' }).click();
  const create = page.getByTestId('create-topic');
  await create.getByLabel('Name').fill('console-unbounded');
  const ahead = create.getByLabel('Timestamps ahead, at most (hours)');
  const behind = create.getByLabel('Timestamps behind, at most (hours)');
  const aheadTop = (await ahead.boundingBox())!.y;
  assert.equal((await behind.boundingBox())!.y, aheadTop, 'fields side by side line up even where one label wraps (at 1360 px the behind label takes two lines)');
  await ahead.fill('2');
  await create.getByRole('checkbox', { name: 'No bound on timestamps ahead' }).check();
  assert.ok(await ahead.isDisabled(), 'a bound of none has no hours to fill in');
  await create.getByRole('checkbox', { name: 'No bound on timestamps behind' }).check();
  await create.getByRole('checkbox', { name: 'No limit on retention by time' }).check();
  await create.getByRole('checkbox', { name: 'No limit on retention by size' }).check();
  const post = page.waitForRequest((request) => request.method() === 'POST');
  await page.getByRole('button', { name: 'Create topic' }).click();
  assert.deepEqual((await post).postDataJSON(), {
    name: 'console-unbounded',
    partitions: 1,
    config: { retentionMs: null, retentionBytes: null, timestampAheadMsMax: null, timestampBehindMsMax: null },
  });
  await page.getByText('Created topic console-unbounded.').waitFor();
  const unbounded = await api<TopicConfigJson>('GET', '/v1/topics/console-unbounded');
  assert.equal(unbounded.config.timestampAheadMsMax, null, 'no bound on timestamps ahead');
  assert.equal(unbounded.config.timestampBehindMsMax, null);
  assert.equal(unbounded.config.retentionMs, null, 'kept for ever: no retention by time');
  await api('DELETE', '/v1/topics/console-unbounded');
}

interface TopicConfigJson extends TopicJson {
  config: {
    retentionMs: number | null;
    flush: unknown;
    messageBytesMax: number;
    messageTtlMs: number | null;
    segmentBytesMax: number;
    segmentAgeMsMax: number;
    timestampAheadMsMax: number | null;
    timestampBehindMsMax: number | null;
  };
}

/**
 * Edits console-made (3 partitions) in the page: the form opens with its settings; someone adds
 * partitions meanwhile, so the page's smaller count is refused with the broker's message shown
 * in the form and nothing changes; then a good change sends only the changed fields, and the
 * topic's view shows the new partitions without waiting for the page's own refresh.
 */
async function editTopic(page: Page, problems: string[], made: TopicJson): Promise<void> {
  const opened = await api<TopicConfigJson>('GET', '/v1/topics/console-made');
  await page.getByTestId('topic-detail').getByRole('button', { name: 'Edit…' }).click();
  const form = page.getByTestId('edit-topic');
  const partitions = form.getByLabel('Partitions');
  assert.ok(await partitions.evaluate((input) => input.matches(':focus')), 'the form opens with the keyboard in its first field');
  assert.equal(await partitions.inputValue(), String(made.partitions.length));
  assert.equal(await partitions.getAttribute('min'), String(made.partitions.length), 'the count cannot be lowered in the form');
  await form.getByText(`At least ${made.partitions.length}: partitions can only be added.`).waitFor();
  assert.equal(await form.getByLabel('Retention (hours)').inputValue(), String(opened.config.retentionMs! / 3_600_000));
  assert.equal(await form.getByRole('combobox', { name: /^Flush/ }).inputValue(), 'always');
  assert.equal(await form.getByLabel('Largest message (KiB)').inputValue(), String(opened.config.messageBytesMax / 1024));
  assert.equal(await form.getByLabel('Message TTL (hours)').inputValue(), '');
  assert.equal(await form.getByLabel('Segment size (MiB)').inputValue(), String(opened.config.segmentBytesMax / 1024 / 1024));
  assert.equal(await form.getByLabel('Segment age (hours)').inputValue(), String(opened.config.segmentAgeMsMax / 3_600_000));
  assert.equal(await form.getByLabel('Timestamps ahead, at most (hours)').inputValue(), '2');
  assert.equal(await form.getByLabel('Timestamps behind, at most (hours)').inputValue(), '24');

  await api('PATCH', '/v1/topics/console-made', { partitions: 5 });
  await partitions.fill('4');
  await form.getByLabel('Retention (hours)').fill('48');
  await partitions.press('Enter'); // the keyboard submits
  await form.getByRole('alert').getByText('partitions can only be added').waitFor();
  const refused = await api<TopicConfigJson>('GET', '/v1/topics/console-made');
  assert.equal(refused.partitions.length, 5);
  assert.equal(refused.config.retentionMs, opened.config.retentionMs, 'a refused change changes nothing');

  await partitions.fill('6');
  await form.getByRole('combobox', { name: /^Flush/ }).selectOption('none');
  await form.getByLabel('Segment age (hours)').fill('12');
  await form.getByLabel('Timestamps ahead, at most (hours)').fill('');
  await form.getByLabel('Timestamps behind, at most (hours)').fill('168');
  const patch = page.waitForRequest((request) => request.method() === 'PATCH');
  await form.getByRole('button', { name: 'Save changes' }).click();
  assert.deepEqual((await patch).postDataJSON(), {
    partitions: 6,
    retentionMs: 48 * 3_600_000,
    flush: 'none',
    segmentAgeMsMax: 12 * 3_600_000,
    timestampAheadMsMax: null,
    timestampBehindMsMax: 168 * 3_600_000,
  });
  await page.getByText('Updated topic console-made: partitions, retentionMs, flush, segmentAgeMsMax, timestampAheadMsMax, timestampBehindMsMax.').waitFor();
  await form.waitFor({ state: 'detached' });
  // Sooner than the page's 3 s refresh: the accepted change reloads the view itself.
  await page.getByTestId('partitions-table').locator('tbody tr').nth(5).waitFor({ timeout: 2000 });
  const altered = await api<TopicConfigJson>('GET', '/v1/topics/console-made');
  assert.equal(altered.partitions.length, 6);
  assert.equal(altered.config.retentionMs, 48 * 3_600_000);
  assert.deepEqual(altered.config.flush, { kind: 'none' });
  assert.equal(altered.config.segmentAgeMsMax, 12 * 3_600_000);
  assert.equal(altered.config.timestampAheadMsMax, null, 'an emptied bound is none');
  assert.equal(altered.config.timestampBehindMsMax, 168 * 3_600_000);
  assert.equal(altered.config.segmentBytesMax, opened.config.segmentBytesMax);
  assert.equal(altered.config.messageBytesMax, opened.config.messageBytesMax, 'a field left alone keeps its value');
  // Chromium logs the refused request as a console error: expected once, and only that.
  const refusal = problems.findIndex((problem) => problem.includes('status of 400'));
  assert.ok(refusal >= 0, 'the refused change answered 400');
  problems.splice(refusal, 1);
}

test('message browser shows offsets, keys, headers and values from an offset', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const { page, problems } = await openPage();
  await page.goto(`${base}/console/#/messages?topic=${topic}&partition=0&offset=0&max=20`);
  const rows = page.getByTestId('messages-table').locator('tbody tr');
  await rows.first().waitFor();
  const first = await rows.first().textContent();
  assert.match(first ?? '', /customer-0/);
  assert.match(first ?? '', /trace-id/);
  assert.match(first ?? '', /"order":1000/);
  // From offset 1 of partition 1: the fourth message produced (order 1003).
  await page.locator('select[name="partition"]').selectOption('1');
  await page.locator('input[name="offset"]').fill('1');
  await page.getByRole('button', { name: 'Show messages' }).click();
  await page.getByTestId('messages-table').locator('tbody tr').first().getByText('1003', { exact: false }).waitFor();
  await rows.first().click();
  await page.locator('pre.payload').getByText('"order": 1003').waitFor();
  await screenshot(page, 'messages');

  // By time (to the second, as the input takes it): the page starts where the API says the
  // partition's last second of writes starts, which is past the messages made before the load.
  const { partitions: states } = await api<TopicJson>('GET', `/v1/topics/${topic}`);
  const lastOffset = states.find((p) => p.partition === 1)!.offsetEnd - 1;
  const [last] = (await api<{ messages: { timestamp: number }[] }>('GET', `/v1/topics/${topic}/partitions/1/messages?offset=${lastOffset}&max=1`)).messages;
  const secondMs = Math.floor(last!.timestamp / 1000) * 1000;
  const [expected] = (await api<{ messages: { offset: number }[] }>('GET', `/v1/topics/${topic}/partitions/1/messages?timestamp=${secondMs}&max=1`)).messages;
  assert.ok(expected!.offset > 0, 'the time lookup lands past the partition start');
  await page.getByRole('button', { name: 'Time', exact: true }).click();
  await page.locator('input[name="time"]').fill(localInput(secondMs));
  await page.getByRole('button', { name: 'Show messages' }).click();
  await page.waitForURL(new RegExp(`time=${secondMs}`));
  await rows.first().locator('td').first().getByText(String(expected!.offset), { exact: true }).waitFor();
  await page.close();
  assert.deepEqual(problems, []);
});

test('groups and subscriptions show lag, backlog and dead-letter counts', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const { page, problems } = await openPage();
  await page.goto(`${base}/console/#/groups`);
  await page.getByTestId('groups-table').getByRole('link', { name: group }).click();
  const offsets = page.getByTestId('group-offsets').locator('tbody tr');
  await offsets.first().waitFor();
  const described = await api<{ offsets: { lag: number }[] }>('GET', `/v1/groups/${group}`);
  assert.ok(described.offsets.length > 0);
  const lagTotal = described.offsets.reduce((sum, o) => sum + o.lag, 0);
  assert.ok(lagTotal > 0, 'the group has lag to show');

  const groupDetail = page.getByTestId('group-detail');
  await groupDetail.getByText('console-test', { exact: true }).waitFor();
  await groupDetail.getByText(`${topic} [0, 1]`).waitFor();
  const lagCells = await offsets.locator('td:last-child').allTextContents();
  const lagShown = lagCells.reduce((sum, text) => sum + Number(text.replace(/[^0-9]/g, '')), 0);
  assert.ok(lagShown > 0, `the page shows the lag (${lagCells.join(', ')})`);

  const row = page.getByTestId('subscriptions-table').locator('tbody tr', { hasText: subscription });
  await row.waitFor();
  const cells = row.locator('td');
  assert.equal((await cells.nth(4).textContent())?.trim(), '1', 'one message in flight');
  assert.equal((await cells.nth(5).textContent())?.trim(), '1', 'one message scheduled');
  assert.equal((await cells.nth(9).textContent())?.trim(), '1', 'one dead letter');
  await row.getByRole('link', { name: subscription }).click();
  await page.getByTestId('subscription-detail').getByText(deadLetterTopic).waitFor();
  await page.getByTestId('group-detail').waitFor(); // still open beside the subscription
  await finish(page, problems, 'groups');
});

test('dead letters: reasons shown, a replay clicked in the page reaches the original topic', async (t) => {
  if (skipReason) return t.skip(skipReason);
  const before = await api<TopicJson>('GET', `/v1/topics/${topic}`);
  const { page, problems } = await openPage();
  await page.goto(`${base}/console/#/dead-letters`);
  await page.getByTestId('dlq-topic').selectOption(deadLetterTopic);
  const row = page.getByTestId('dead-letters-table').locator('tbody tr', { hasText: rejectReason });
  await row.waitFor();
  assert.match((await row.textContent()) ?? '', new RegExp(`${topic} · \\d+:\\d+`));
  await row.locator('input[type="checkbox"]').check();
  await page.getByTestId('replay-selected').click();
  await page.getByText('Replayed 1 message to its original topic.').waitFor();
  await finish(page, problems, 'dead-letters');

  const { deadLetters } = await api<{ deadLetters: { originalPartition: number; value: string }[] }>('GET', `/v1/dead-letters/${deadLetterTopic}`);
  const letter = deadLetters[0]!;
  const afterReplay = await api<TopicJson>('GET', `/v1/topics/${topic}`);
  const endBefore = before.partitions.find((p) => p.partition === letter.originalPartition)!.offsetEnd;
  const endAfter = afterReplay.partitions.find((p) => p.partition === letter.originalPartition)!.offsetEnd;
  assert.equal(endAfter, endBefore + 1, 'the replayed message was appended to its original partition');
  const { messages } = await api<{ messages: { value: string; headers: Record<string, string> }[] }>(
    'GET',
    `/v1/topics/${topic}/partitions/${letter.originalPartition}/messages?offset=${endBefore}&max=1`,
  );
  assert.equal(messages[0]?.value, letter.value);
  assert.equal(messages[0]?.headers['weir-dead-letter-reason'], undefined, 'replayed without the dead-letter headers');
});
