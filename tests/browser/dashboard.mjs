// Drives the system chromium against wharf's dashboard and reports what a person would see.
//
//   node dashboard.mjs URL SCREENSHOT.png [--search TERM]
//
// Opens URL, waits until the tables are filled from the API, reads every table, types TERM in
// the search box and reads the tables again, clears the search and saves a full-page screenshot.
// Each result is one JSON line on stdout, {"event": ...}. Then, for as long as stdin stays open,
// it takes one command per line and answers each with one JSON line:
//   wait-row TABLE NAME    until a row NAME shows in table TABLE, without reloading the page
//   wait-disconnected      until the page says the API stopped answering
//   snapshot               the tables now
// A command that times out answers {"event": ..., "ok": false}.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const url = args[0];
const shot = args[1];
const si = args.indexOf('--search');
const search = si >= 0 ? args[si + 1] : null;
if (!url || !shot) {
  console.error('usage: node dashboard.mjs URL SCREENSHOT.png [--search TERM]');
  process.exit(2);
}
const WAIT_MS = 20000;

const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n');

// Everything the page shows, read from the DOM (text as rendered, never the API's JSON).
function readPage() {
  const tables = {};
  for (const t of document.querySelectorAll('main table')) {
    const section = t.closest('section');
    const rows = [];
    for (const tr of t.querySelectorAll('tbody tr')) {
      if (tr.querySelector('td.empty')) continue;
      const cells = {};
      const heads = [...t.querySelectorAll('thead th')].map((th) => th.textContent);
      [...tr.children].forEach((td, i) => { cells[heads[i]] = td.innerText; });
      rows.push({
        name: tr.dataset.name,
        level: tr.dataset.level || null,
        status: tr.querySelector('.badge.status')?.textContent ?? null,
        errors: [...tr.querySelectorAll('.err')].map((e) => e.textContent),
        servers: Object.fromEntries([...tr.querySelectorAll('.server-state')].map((b) => [b.dataset.server, b.textContent])),
        cells,
      });
    }
    tables[t.id] = { visible: !section.hidden, count: section.querySelector('.count')?.textContent ?? '', rows };
  }
  const overview = {};
  for (const c of document.querySelectorAll('#overview .card')) overview[c.dataset.kind] = c.innerText.replace(/\s+/g, ' ').trim();
  const banner = document.getElementById('banner');
  return {
    tables,
    overview,
    connected: document.body.dataset.connected,
    conn: document.getElementById('conn').textContent,
    banner: banner.hidden ? null : banner.textContent,
    // Markup from labels must arrive as text: no element the API's values could have made.
    injectedElements: document.querySelectorAll('main img, main script, main iframe, main svg').length,
    xssRan: window.__xss === true,
    loadId: window.__loadId,
  };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-sync'],
});
let status = 0;
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const consoleErrors = []; // includes the browser's own "Failed to load resource" lines
  const pageErrors = []; // exceptions thrown by the page's script
  const cspViolations = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
  await page.addInitScript(() => {
    window.__loadId = Math.random().toString(36).slice(2);
    document.addEventListener('securitypolicyviolation', (e) => {
      (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI);
    });
  });
  const resp = await page.goto(url, { waitUntil: 'load' });
  const headers = resp ? resp.headers() : {};
  await page.waitForFunction(() => document.body.dataset.connected === 'true' &&
    document.querySelectorAll('#http-routers tbody tr[data-name]').length > 0, null, { timeout: WAIT_MS });
  const first = await page.evaluate(readPage);
  const loadId = first.loadId;

  let searched = null;
  let statusErrors = null;
  if (search !== null) {
    await page.fill('#q', '');
    await page.type('#q', search);
    searched = await page.evaluate(readPage);
    await page.fill('#q', '');
  }
  await page.selectOption('#status', 'errors');
  statusErrors = await page.evaluate(readPage);
  await page.selectOption('#status', 'all');
  await page.screenshot({ path: shot, fullPage: true });
  cspViolations.push(...(await page.evaluate(() => window.__csp || [])));
  emit({
    event: 'loaded', status: resp ? resp.status() : null, csp: headers['content-security-policy'] || null,
    page: first, searched, statusErrors, screenshot: shot, consoleErrors, pageErrors, cspViolations,
  });

  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, ...rest] = line.trim().split(/\s+/);
    if (!cmd) continue;
    if (cmd === 'quit') break;
    let ok = true;
    try {
      if (cmd === 'wait-row') {
        const [table, name] = rest;
        await page.waitForFunction(([t, n]) => [...document.querySelectorAll('#' + t + ' tbody tr')]
          .some((tr) => tr.dataset.name === n), [table, name], { timeout: WAIT_MS, polling: 200 });
      } else if (cmd === 'wait-disconnected') {
        await page.waitForFunction(() => document.body.dataset.connected === 'false' &&
          !document.getElementById('banner').hidden, null, { timeout: WAIT_MS, polling: 200 });
      } else if (cmd !== 'snapshot') {
        throw new Error('unknown command ' + cmd);
      }
    } catch (e) {
      ok = false;
      emit({ event: cmd, ok, error: String(e).slice(0, 500) });
      continue;
    }
    const now = await page.evaluate(readPage);
    emit({ event: cmd, ok, page: now, sameDocument: now.loadId === loadId, navigations, pageErrors });
    if (cmd === 'wait-disconnected') await page.screenshot({ path: shot.replace(/\.png$/, '') + '-disconnected.png', fullPage: true });
  }
} catch (e) {
  emit({ event: 'error', error: String(e).slice(0, 2000) });
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
