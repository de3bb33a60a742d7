// Drives Debian's Chromium (headless) through the outbox dashboard, for DashboardBrowserTests.
// Input (environment): OUTBOX_URL (the dashboard), OUTBOX_CHROMIUM (executable), OUTBOX_REQUEUE_ID (a dead letter to
// requeue), OUTBOX_EXPECT_PENDING (the backlog the page must show first), OUTBOX_HEADERS (JSON of request headers),
// OUTBOX_EXPECT_OPEN_ENDPOINT (a destination the endpoints card must list open, optional), OUTBOX_SCREENSHOT (a PNG
// path, optional: the page with its cards, charts and tables filled, before the requeue click). With OUTBOX_SWITCH_TO (an
// outbox of a host with several) it instead checks the outbox selector: the page opens on the default outbox's
// backlog, then chooses that outbox and must show OUTBOX_EXPECT_PENDING_AFTER_SWITCH pending messages of it. With
// OUTBOX_TENANT_SWITCH_TO as well (that outbox keeps a database per tenant) it then checks the tenant selector: the first
// tenant's OUTBOX_EXPECT_ROWS_BEFORE_TENANT_SWITCH pending rows, then that tenant's OUTBOX_EXPECT_ROWS_AFTER_TENANT_SWITCH
// (each row's destination is its tenant's id).
// Prints one JSON line with what it saw; exits 1 on any failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const url = env('OUTBOX_URL');
const switchTo = process.env.OUTBOX_SWITCH_TO;
const tenantSwitchTo = process.env.OUTBOX_TENANT_SWITCH_TO;
const requeueId = switchTo ? null : env('OUTBOX_REQUEUE_ID');
const expectPending = Number(env('OUTBOX_EXPECT_PENDING'));
const headers = JSON.parse(process.env.OUTBOX_HEADERS || '{}');
// Generous: on a loaded 2-core machine Chromium alone can take tens of seconds to start. Every wait is for an element
// or a response, so a larger bound costs nothing when things are quick.
const launchTimeout = 120_000;
const timeout = 45_000;
const userDataDir = mkdtempSync(join(tmpdir(), 'outbox-chromium-'));
const problems = [];
const seen = {};
let context;

try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env('OUTBOX_CHROMIUM'),
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
    extraHTTPHeaders: headers,
    timeout: launchTimeout,
  });
  context.setDefaultTimeout(timeout);
  const page = context.pages()[0] ?? await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()} for ${r.url()}`); });

  const response = await page.goto(url, { waitUntil: 'load' });
  seen.pageStatus = response?.status();
  seen.title = await page.title();

  // The backlog number, from the stats endpoint.
  await page.waitForFunction((n) => document.getElementById('pending-count')?.textContent === String(n), expectPending);
  seen.pendingBefore = await page.textContent('#pending-count');
  seen.deadLettersBefore = await page.textContent('#dead-letter-count');

  if (tenantSwitchTo) {
    await checkTenantSelector(page);
  } else if (switchTo) {
    await checkOutboxSelector(page);
  } else {
    await checkDashboard(page);
  }
} catch (error) {
  problems.push(`failed: ${error?.message ?? error}`);
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

console.log(JSON.stringify({ ok: problems.length === 0, problems, seen }));
process.exit(problems.length === 0 ? 0 : 1);

// The header's selector lists every outbox, starts on the default one, and choosing another shows that one's backlog
// and pending rows and puts it in the address.
async function checkOutboxSelector(page) {
  const expectAfter = Number(env('OUTBOX_EXPECT_PENDING_AFTER_SWITCH'));
  await page.locator('#outbox-choice').waitFor({ state: 'visible' });
  seen.outboxOptions = await page.evaluate(() => Array.from(document.querySelectorAll('#outbox option'), (o) => o.value));
  seen.outboxSelected = await page.inputValue('#outbox');
  await page.selectOption('#outbox', switchTo);
  await page.waitForFunction((n) => document.getElementById('pending-count')?.textContent === String(n), expectAfter);
  seen.pendingAfterSwitch = await page.textContent('#pending-count');
  await page.waitForFunction((n) => document.querySelectorAll('#pending tbody tr').length === n, expectAfter);
  seen.pendingDestinationsAfterSwitch = await page.evaluate(() => Array.from(document.querySelectorAll('#pending tbody tr'), (r) => r.innerText));
  seen.urlAfterSwitch = page.url();
}

// Choosing the per-tenant outbox shows its backlog summed over the tenants, the tenant selector on the first tenant with
// that tenant's pending rows, and choosing another tenant shows that one's rows and puts it in the address.
async function checkTenantSelector(page) {
  await page.locator('#outbox-choice').waitFor({ state: 'visible' });
  await page.selectOption('#outbox', switchTo);
  await page.waitForFunction((n) => document.getElementById('pending-count')?.textContent === String(n), Number(env('OUTBOX_EXPECT_PENDING_AFTER_SWITCH')));
  seen.pendingAfterSwitch = await page.textContent('#pending-count');
  await page.locator('#tenant-choice').waitFor({ state: 'visible' });
  seen.tenantOptions = await page.evaluate(() => Array.from(document.querySelectorAll('#tenant option'), (o) => o.value));
  seen.tenantSelected = await page.inputValue('#tenant');
  seen.rowsBeforeTenantSwitch = await rowsOf(page, seen.tenantSelected, Number(env('OUTBOX_EXPECT_ROWS_BEFORE_TENANT_SWITCH')));
  await page.selectOption('#tenant', tenantSwitchTo);
  seen.rowsAfterTenantSwitch = await rowsOf(page, tenantSwitchTo, Number(env('OUTBOX_EXPECT_ROWS_AFTER_TENANT_SWITCH')));
  seen.urlAfterTenantSwitch = page.url();
}

// Waits until the pending table holds n rows, all of tenant's (their destination), and returns their text.
async function rowsOf(page, tenantId, n) {
  await page.waitForFunction(([id, count]) => {
    const rows = Array.from(document.querySelectorAll('#pending tbody tr'), (r) => r.innerText);
    return rows.length === count && rows.every((r) => r.includes(id));
  }, [tenantId, n]);
  return page.evaluate(() => Array.from(document.querySelectorAll('#pending tbody tr'), (r) => r.innerText));
}

async function checkDashboard(page) {

  // The endpoints card: the open circuit with the failure that opened it.
  const openEndpoint = process.env.OUTBOX_EXPECT_OPEN_ENDPOINT;
  if (openEndpoint) {
    const item = page.locator(`#endpoints li[data-destination="${openEndpoint}"]`);
    await item.waitFor({ state: 'visible' });
    seen.endpointText = (await item.innerText()).replace(/\s+/g, ' ').trim();
    seen.endpointsSummary = await page.textContent('#endpoints-summary');
  }

  // The dead-letter card: outbox and inbox dead letters, counted and listed.
  const inboxRow = page.locator('#inbox-dead-letters tbody tr').first();
  await inboxRow.waitFor({ state: 'visible' });
  seen.inboxRowText = (await inboxRow.innerText()).replace(/\s+/g, ' ').trim();
  seen.inboxDeadLetterCount = await page.textContent('#inbox-dead-letter-count');

  // Consumer throughput and latency, from the meter (the test feeds it while the page runs).
  await page.waitForFunction(() => Number(document.getElementById('consumed')?.textContent) > 0);
  await page.waitForFunction(() => !['–', ''].includes(document.getElementById('consumer-latency')?.textContent ?? ''));
  seen.consumed = await page.textContent('#consumed');
  seen.consumerLatency = await page.textContent('#consumer-latency');

  // The charts: one line per series, each with its own colour and dash; a legend drawn with the same strokes; a
  // labelled time axis. Read in one evaluation: the page redraws the charts on every refresh, so an element handle
  // held across calls could be detached (and have no computed style) by the time it is read.
  await page.locator('#chart-throughput polyline[data-series="consumed"]').waitFor({ state: 'attached' });
  seen.throughputLines = await page.evaluate(() => Array.from(document.querySelectorAll('#chart-throughput polyline'), (l) => {
    const style = getComputedStyle(l);
    return { series: l.dataset.series, stroke: style.stroke, dash: style.strokeDasharray, width: style.strokeWidth, points: l.getAttribute('points').split(' ').length };
  }));
  seen.throughputLegend = await page.evaluate(() => Array.from(document.querySelectorAll('#chart-throughput-legend .k'), (i) => {
    const style = getComputedStyle(i.querySelector('line'));
    return { label: i.textContent, series: i.dataset.series, stroke: style.stroke, dash: style.strokeDasharray };
  }));
  seen.timeLabels = await page.evaluate(() => Array.from(document.querySelectorAll('#chart-throughput text.time'), (x) => x.textContent));
  seen.timeCaption = await page.textContent('#chart-throughput text.caption');
  seen.latencyLegend = await page.evaluate(() => Array.from(document.querySelectorAll('#chart-latency-legend .k'), (i) => i.textContent));

  // A pending row of the destination whose circuit is open shows the circuit's cause as its last error.
  await page.waitForFunction(() => /SocketException/.test(document.querySelector('#pending tbody tr td.reason')?.textContent ?? ''));
  seen.pendingError = await page.textContent('#pending tbody tr td.reason');

  if (process.env.OUTBOX_SCREENSHOT) {
    await page.screenshot({ path: process.env.OUTBOX_SCREENSHOT, fullPage: true });
  }

  // The dead letter's row, then its requeue button.
  const row = page.locator(`#dead-letters tbody tr[data-id="${requeueId}"]`);
  await row.waitFor({ state: 'visible' });
  seen.rowText = (await row.innerText()).replace(/\s+/g, ' ').trim();
  await row.locator('button[data-action="requeue"]').click();

  await row.waitFor({ state: 'detached' });
  await page.waitForFunction(() => /Requeued 1 message/.test(document.getElementById('status')?.textContent ?? ''));
  seen.status = await page.textContent('#status');

  // The backlog refresh then shows the message back in the outbox.
  await page.waitForFunction((n) => document.getElementById('pending-count')?.textContent === String(n), expectPending + 1);
  seen.pendingAfter = await page.textContent('#pending-count');
  await page.locator(`#pending tbody tr`).first().waitFor();
  seen.pendingRows = await page.locator('#pending tbody tr').count();
  seen.chartLines = await page.locator('#chart-backlog polyline').count();
}
