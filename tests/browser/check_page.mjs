// Opens a report page in a real browser (Debian's chromium, driven by
// playwright-core from writer/page/node_modules) and prints, as one JSON
// object on stdout, what the tests in tests/integration/test_report.py
// check: console errors, page errors, dialogs, every request the page made
// (all are blocked but the page's own file), the scripts and images in the
// DOM, and per run the charts uPlot drew (their kind, series labels, data)
// and the numbers of the tables beside them.  It takes the screenshot, then
// sorts a table by a click and zooms a timeline by dragging, and reports
// what changed.
//
//   node tests/browser/check_page.mjs PAGE [--screenshot OUT.png] [--full]
//
// Environment: OMNI_CHROMIUM (default /usr/bin/chromium), OMNI_PAGE_DIR
// (the folder with node_modules; default writer/page beside this file).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pageDir = process.env.OMNI_PAGE_DIR || path.join(here, '..', '..', 'writer', 'page');
const require = createRequire(path.join(pageDir, 'package.json'));
const { chromium } = require('playwright-core');

const args = process.argv.slice(2);
const page_path = path.resolve(args[0]);
const shot = args.includes('--screenshot') ? args[args.indexOf('--screenshot') + 1] : null;
const full = args.includes('--full');
const url = pathToFileURL(page_path).href;

const found = { url, console: [], pageErrors: [], dialogs: [], requests: [], blocked: [] };
const browser = await chromium.launch({
    executablePath: process.env.OMNI_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    page.on('console', (m) => found.console.push({ type: m.type(), text: m.text() }));
    page.on('pageerror', (e) => found.pageErrors.push(String(e)));
    page.on('dialog', async (d) => { found.dialogs.push(d.message()); await d.dismiss(); });
    page.on('request', (r) => found.requests.push(r.url()));
    await context.route('**/*', (route) => {
        if (route.request().url() === url) return route.continue();
        found.blocked.push(route.request().url());
        return route.abort();
    });
    const t0 = Date.now();
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    found.loadMs = Date.now() - t0;

    found.dom = await page.evaluate(() => {
        const text = (e) => (e ? e.textContent : null);
        const cells = (table) => Array.from(table.querySelectorAll('tbody tr')).map((tr) =>
            Array.from(tr.children).map((td) => ({ text: td.textContent, value: td.dataset.value === undefined ? null : Number(td.dataset.value) })));
        const runs = Array.from(document.querySelectorAll('section.run')).map((sec) => {
            const run = Number(sec.dataset.run);
            const charts = (window.omniprofCharts || []).filter((c) => c.run === run).map((c) => ({
                kind: c.kind,
                title: text(c.box.querySelector('.u-title')),
                series: c.u.series.map((s) => s.label),
                data: c.u.data.map((a) => Array.from(a)),
                names: c.names,
                canvas: !!c.box.querySelector('canvas'),
                width: c.u.width,
                height: c.u.height,
            }));
            const tables = {};
            sec.querySelectorAll('table.data').forEach((t) => {
                tables[t.dataset.table] = {
                    head: Array.from(t.querySelectorAll('thead th')).map((th) => th.textContent),
                    rows: cells(t),
                };
            });
            const facts = {};
            sec.querySelectorAll(':scope > table.facts tr').forEach((tr) => { facts[text(tr.children[0])] = text(tr.children[1]); });
            return {
                run, title: text(sec.querySelector('h2')), facts, charts, tables,
                trace: sec.querySelector('a.trace') ? sec.querySelector('a.trace').getAttribute('href') : null,
                howto: text(sec.querySelector('.howto')),
            };
        });
        const diff = document.querySelector('section.diff');
        return {
            title: document.title,
            csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content'),
            scripts: document.querySelectorAll('script').length,
            images: document.querySelectorAll('img, iframe, object, embed').length,
            uplots: document.querySelectorAll('.uplot').length,
            bodyText: document.body.innerText,
            runs,
            diff: diff ? {
                chart: (window.omniprofCharts || []).filter((c) => c.kind === 'diff').map((c) => ({ series: c.u.series.map((s) => s.label), names: c.names, data: c.u.data.map((a) => Array.from(a)) }))[0] || null,
                head: Array.from(diff.querySelectorAll('table.data thead th')).map((th) => th.textContent),
                rows: cells(diff.querySelector('table.data')),
                foot: Array.from(diff.querySelectorAll('table.data tfoot td')).map((td) => td.textContent),
                count: text(diff.querySelector('p.diff-count')),
            } : null,
        };
    });

    // The page as it opened, before the clicks below.
    if (shot) await page.screenshot({ path: shot, fullPage: full });

    // Sorting: click the time table's "# of Calls" header twice (descending,
    // then ascending) and read the column.
    const sortable = page.locator('section.run[data-run="0"] table[data-table="time-table"] thead th', { hasText: '# of Calls' });
    if (await sortable.count()) {
        const column = () => page.evaluate(() => Array.from(document.querySelectorAll('section.run[data-run="0"] table[data-table="time-table"] tbody tr'))
            .map((tr) => Number(tr.lastElementChild.dataset.value)));
        await sortable.first().click();
        const down = await column();
        await sortable.first().click();
        found.sorted = { down, up: await column() };
    }

    // Zoom: drag across the middle of the first timeline; its x scale narrows.
    const over = page.locator('[data-chart="timeline"] .u-over').first();
    if (await over.count()) {
        await over.scrollIntoViewIfNeeded();
        const box = await over.boundingBox();
        const before = await page.evaluate(() => { const c = window.omniprofCharts.find((x) => x.kind === 'timeline'); return [c.u.scales.x.min, c.u.scales.x.max]; });
        await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
        await page.mouse.up();
        const after = await page.evaluate(() => { const c = window.omniprofCharts.find((x) => x.kind === 'timeline'); return [c.u.scales.x.min, c.u.scales.x.max]; });
        found.zoom = { before, after };
    }

} finally {
    await browser.close();
}
process.stdout.write(JSON.stringify(found));
