/*
 * omniprof's report page: reads the numbers in <script id="omniprof-data"
 * type="application/json"> (written by writer/report_json.c) and lays out,
 * for each run (a process or stage), its header, its charts (drawn by
 * uPlot) and the tables of the numbers behind each chart.  Every name
 * that comes from a trace is shown with textContent, never as HTML.
 * Charts are kept in window.omniprofCharts ({run, kind, u}) for the tests.
 */
(function () {
    'use strict';

    var data = JSON.parse(document.getElementById('omniprof-data').textContent);
    var root = document.getElementById('report');
    var charts = [];
    window.omniprofCharts = charts;

    var KIND = ['kernel', 'memcpy', 'memset', 'call'];
    var COLORS = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b',
                  '#9d755d', '#bab0ac', '#ff9da6'];

    /* ---- DOM ----------------------------------------------------------------- */

    /* el('td', {class: 'x', 'data-value': 3}, 'text', child...): attributes are
     * set with setAttribute, strings become text nodes. */
    function el(tag, attrs) {
        var e = document.createElement(tag);
        for (var k in attrs || {}) {
            if (attrs[k] === null || attrs[k] === undefined) continue;
            if (k === 'class') e.className = attrs[k];
            else e.setAttribute(k, String(attrs[k]));
        }
        for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
        return e;
    }

    function add(parent, child) {
        if (child === null || child === undefined || child === false) return;
        if (Array.isArray(child)) child.forEach(function (c) { add(parent, c); });
        else parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
    }

    /* ---- numbers as the text table writes them ---------------------------------- */

    function fmtTime(ns) {
        if (ns === null || ns === undefined) return '-';
        var us = ns / 1000;
        if (us >= 1e6) return (us / 1e6).toFixed(3) + 's';
        if (us >= 1e3) return (us / 1e3).toFixed(3) + 'ms';
        return us.toFixed(3) + 'us';
    }

    function fmtPct(part, whole) {
        return (whole ? 100 * part / whole : 0).toFixed(2) + '%';
    }

    function fmtBytes(b) {
        var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
        var i = 0;
        while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
        return (i ? b.toFixed(2) : String(b)) + ' ' + units[i];
    }

    function fmtMs(ms) {
        if (ms === null || ms === undefined) return '-';
        return ms >= 100 ? ms.toFixed(1) + ' ms' : ms >= 1 ? ms.toFixed(3) + ' ms' : (ms * 1000).toFixed(3) + ' us';
    }

    function short(name, n) {
        name = String(name);
        return name.length > n ? name.slice(0, n - 1) + '\u2026' : name;
    }

    /* A link to a file path, relative or absolute, each part URL-encoded. */
    function fileHref(path) {
        var parts = String(path).split('/').map(encodeURIComponent).join('/');
        return path.charAt(0) === '/' ? 'file://' + parts : parts;
    }

    /* ---- tables ------------------------------------------------------------------ */

    /* cols: [{label, cell(row) -> [text, value]}]; rows: any; sortable by
     * clicking a header (numbers by value, names by text). */
    function table(cols, rows, opts) {
        opts = opts || {};
        var head = el('tr', null, cols.map(function (c) {
            return el('th', {scope: 'col', class: c.name ? 'name' : null}, c.label);
        }));
        var body = el('tbody');
        var t = el('table', {class: 'data' + (opts.sortable ? ' sortable' : ''), 'data-table': opts.name},
                   el('thead', null, head), body);
        var lines = rows.map(function (r) {
            var cells = cols.map(function (c) { return c.cell(r); });
            var tr = el('tr', null, cells.map(function (v, k) {
                return el('td', {'data-value': typeof v[1] === 'number' ? v[1] : null,
                                 class: cols[k].name ? 'name' : null}, v[0]);
            }));
            return {tr: tr, cells: cells};
        });
        lines.forEach(function (l) { body.appendChild(l.tr); });
        if (opts.foot) {
            t.appendChild(el('tfoot', null, el('tr', null, cols.map(function (c) {
                var v = c.cell(opts.foot);
                return el('td', {'data-value': typeof v[1] === 'number' ? v[1] : null,
                                 class: c.name ? 'name' : null}, v[0]);
            }))));
        }
        if (opts.sortable) {
            Array.prototype.forEach.call(head.children, function (th, i) {
                th.addEventListener('click', function () {
                    var down = th.getAttribute('aria-sort') !== 'descending';
                    Array.prototype.forEach.call(head.children, function (o) { o.removeAttribute('aria-sort'); });
                    th.setAttribute('aria-sort', down ? 'descending' : 'ascending');
                    lines.sort(function (a, b) {
                        var x = a.cells[i][1], y = b.cells[i][1];
                        var c = typeof x === 'number' && typeof y === 'number' ? x - y
                            : String(a.cells[i][0]).localeCompare(String(b.cells[i][0]));
                        return down ? -c : c;
                    });
                    lines.forEach(function (l) { body.appendChild(l.tr); });
                });
            });
        }
        return opts.scroll ? el('div', {class: 'scroll'}, t) : t;
    }

    /* The numbers behind a chart, in a <details> built when first opened. */
    function numbers(label, build) {
        var d = el('details', {class: 'numbers'}, el('summary', null, label));
        var built = false;
        d.addEventListener('toggle', function () {
            if (built || !d.open) return;
            built = true;
            d.appendChild(build());
        });
        return d;
    }

    function facts(pairs) {
        return el('table', {class: 'facts'}, pairs.filter(function (p) { return p; }).map(function (p) {
            return el('tr', null, el('th', {scope: 'row'}, p[0]), el('td', null, p[1]));
        }));
    }

    /* ---- charts (uPlot) ---------------------------------------------------------- */

    function chartWidth(box) {
        var w = box.clientWidth || root.clientWidth || 800;
        return Math.max(320, Math.min(w, 1400));
    }

    /* names: the categories of a bar chart (its x values are their indices). */
    function makeChart(box, run, kind, opts, series, names) {
        opts.width = chartWidth(box);
        var u = new uPlot(opts, series, box);
        charts.push({run: run, kind: kind, u: u, box: box, names: names || null});
        return u;
    }

    window.addEventListener('resize', function () {
        charts.forEach(function (c) { c.u.setSize({width: chartWidth(c.box), height: c.u.height}); });
    });

    /* A unit for times in ns whose largest is max: [name, ns per unit]. */
    function timeUnit(max) {
        return max >= 1e9 ? ['s', 1e9] : max >= 1e6 ? ['ms', 1e6] : ['us', 1e3];
    }

    /* Horizontal bars, one per name, the first at the top. */
    function barChart(box, run, kind, title, names, values, unit, color) {
        var idx = names.map(function (_, i) { return i; });
        var n = names.length;
        return makeChart(box, run, kind, {
            title: title,
            height: Math.max(150, 80 + 26 * n),
            scales: {
                x: {time: false, ori: 1, dir: -1, range: function () { return [-0.5, n - 0.5]; }},
                y: {ori: 0, dir: 1, range: function (u, min, max) { return [Math.min(0, min), max > 0 ? max * 1.05 : 1]; }}
            },
            axes: [
                {scale: 'x', side: 3, size: 290, gap: 6, grid: {show: false}, ticks: {show: false},
                 splits: function () { return idx; },
                 values: function (u, splits) { return splits.map(function (i) { return short(names[i] || '', 40); }); }},
                {scale: 'y', side: 2, label: unit, space: 70,
                 values: function (u, splits) { return splits.map(function (v) { return String(+v.toPrecision(4)); }); }}
            ],
            cursor: {drag: {x: false, y: false}, points: {show: false}},
            series: [
                {label: 'name', value: function (u, i) { return i === null || names[i] === undefined ? '' : names[i]; }},
                {label: unit, fill: color + 'cc', stroke: color, width: 1,
                 paths: uPlot.paths.bars({size: [0.7, 28], align: 0}), points: {show: false},
                 value: function (u, v) { return v === null ? '' : String(+v.toPrecision(6)); }}
            ]
        }, [idx, values], names);
    }

    /* ---- a run -------------------------------------------------------------------- */

    function runTitle(r) {
        var parts = [];
        if (r.set) parts.push(r.set);
        if (r.stage !== null) parts.push('stage ' + r.stage);
        if (r.rank !== null) parts.push('rank ' + r.rank);
        parts.push((r.program || 'process') + (r.pid !== null ? ' (pid ' + r.pid + ')' : ''));
        if (r.host) parts.push(r.host);
        return parts.join(' \u00b7 ');
    }

    function header(r, sec) {
        var dropped = r.dropped === null && r.dropped_gpu === null ? '-'
            : (r.dropped || 0) + ' events, ' + (r.dropped_gpu || 0) + ' GPU records';
        var begin = r.begin_unix_ms !== null ? ' from ' + new Date(r.begin_unix_ms).toISOString() : '';
        sec.appendChild(facts([
            ['program', r.program || '-'],
            ['stage', r.stage !== null ? r.stage : '-'],
            ['rank', r.rank !== null ? r.rank : '-'],
            ['host', r.host || '-'],
            ['pid', r.pid !== null ? r.pid : '-'],
            ['recorded by', r.source || '-'],
            ['session', fmtTime(r.length_ns) + begin + (r.session_known ? '' : ' (the extent of its events)')],
            ['iterations', r.steps !== null ? r.steps : r.iterations.count],
            ['events', r.events !== null ? r.events : '-'],
            ['dropped records', el('span', {class: (r.dropped || r.dropped_gpu) ? 'warn' : null}, dropped)],
            ['devices', r.devices.length ? r.devices.map(function (d) { return 'GPU ' + d.id + ': ' + (d.name || '?'); }).join(', ') : '-'],
            ['GPU activity', r.gpu ? 'yes (CUPTI)' : 'none in this trace: times are the host calls\u2019']
        ]));
        if (r.trace) {
            sec.appendChild(el('p', null, 'Trace: ', el('a', {href: fileHref(r.trace), class: 'trace'}, r.trace)));
            sec.appendChild(el('p', {class: 'howto'},
                'To see every event: open https://ui.perfetto.dev, click \u201cOpen trace file\u201d and choose this file ' +
                '(it also opens in chrome://tracing and TensorBoard).'));
        }
        if (r.config) sec.appendChild(el('details', null, el('summary', null, 'configuration'), el('pre', {class: 'config'}, r.config)));
    }

    function rowCols(r) {
        var g = r.gpu_total_ns, h = r.host_total_ns, gpu = r.gpu;
        function t(v, have) { return have ? [fmtTime(v), v] : ['-', -1]; }
        return [
            {label: 'Name', name: true, cell: function (x) { return [x[0], null]; }},
            {label: 'Self CUDA', cell: function (x) { return t(x[3], gpu); }},
            {label: 'Self CUDA %', cell: function (x) { return gpu ? [fmtPct(x[3], g), x[3]] : ['-', -1]; }},
            {label: 'CUDA total', cell: function (x) { return t(x[3], gpu); }},
            {label: 'CUDA time avg', cell: function (x) { return t(x[2] ? Math.floor(x[3] / x[2]) : 0, gpu && x[2]); }},
            {label: 'CUDA min', cell: function (x) { return t(x[4], gpu && x[2]); }},
            {label: 'CUDA max', cell: function (x) { return t(x[5], gpu && x[2]); }},
            {label: 'Host API total', cell: function (x) { return t(x[7], x[6] > 0); }},
            {label: 'Host API %', cell: function (x) { return x[6] > 0 ? [fmtPct(x[7], h), x[7]] : ['-', -1]; }},
            {label: 'Host API avg', cell: function (x) { return t(x[6] ? Math.floor(x[7] / x[6]) : 0, x[6] > 0); }},
            {label: 'Host API min', cell: function (x) { return t(x[8], x[6] > 0); }},
            {label: 'Host API max', cell: function (x) { return t(x[9], x[6] > 0); }},
            {label: '# of Calls', cell: function (x) { var c = Math.max(x[6], x[2]); return [String(c), c]; }}
        ];
    }

    function kernelsPart(r, i, grid) {
        var k = r.kernels;
        var box = el('div', {class: 'chart', 'data-chart': 'kernels'});
        var part = el('div', {class: 'part'}, el('h3', null, k.metric === 'gpu' ? 'GPU time by kernel' : 'Host time by kernel, copy and memset'), box);
        grid.appendChild(part);
        if (!k.top.length) { box.appendChild(el('p', {class: 'note'}, 'No kernels in this run.')); return; }
        var names = k.top.map(function (x) { return x[0]; });
        var ns = k.top.map(function (x) { return x[1]; });
        if (k.other_count) {
            names.push('other (' + k.other_count + ' kernels)');
            ns.push(k.other_ns);
        }
        var unit = timeUnit(Math.max.apply(null, ns));
        barChart(box, i, 'kernels', (k.metric === 'gpu' ? 'GPU time' : 'host API time') + ' (' + unit[0] + ')' +
                 (k.other_count ? ', the ' + k.top.length + ' longest and the rest' : ''),
                 names, ns.map(function (v) { return v / unit[1]; }), unit[0], COLORS[0]);
        var rows = k.top.map(function (x) { return [x[0], x[1], x[2]]; });
        if (k.other_count) rows.push(['other (' + k.other_count + ' kernels)', k.other_ns, null]);
        part.appendChild(numbers('numbers', function () {
            return table([
                {label: 'Name', name: true, cell: function (x) { return [x[0], null]; }},
                {label: 'time', cell: function (x) { return [fmtTime(x[1]), x[1]]; }},
                {label: '% of kernels', cell: function (x) { return [fmtPct(x[1], k.total_ns), x[1]]; }},
                {label: 'calls', cell: function (x) { return x[2] === null ? ['-', -1] : [String(x[2]), x[2]]; }}
            ], rows, {name: 'kernel-bars'});
        }));
    }

    function copiesPart(r, i, grid) {
        if (!r.copies.length) return;
        var part = el('div', {class: 'part'}, el('h3', null, 'Copies and memsets'));
        grid.appendChild(part);
        var box = el('div', {class: 'chart', 'data-chart': 'bandwidth'});
        part.appendChild(box);
        barChart(box, i, 'bandwidth', 'bandwidth (GB/s)', r.copies.map(function (c) { return c[0]; }),
                 r.copies.map(function (c) { return c[4] ? c[3] / c[4] : 0; }), 'GB/s', COLORS[1]);
        part.appendChild(table([
            {label: 'Name', name: true, cell: function (c) { return [c[0], null]; }},
            {label: 'calls', cell: function (c) { return [String(c[2]), c[2]]; }},
            {label: 'bytes', cell: function (c) { return [fmtBytes(c[3]), c[3]]; }},
            {label: 'GPU time', cell: function (c) { return [fmtTime(c[4]), c[4]]; }},
            {label: 'GB/s', cell: function (c) { var bw = c[4] ? c[3] / c[4] : 0; return [bw.toFixed(3), bw]; }}
        ], r.copies, {name: 'copies', sortable: true}));
    }

    function trackLabel(r, t) {
        return r.gpu ? 'GPU ' + t.device + ' stream ' + t.stream : 'thread ' + t.stream;
    }

    /* Which iteration each bin begins in (its index in items), or -1. */
    function binIterations(r, tl) {
        var items = r.iterations.items, out = new Array(tl.bins), k = 0;
        for (var b = 0; b < tl.bins; b++) {
            var t = b * tl.bin_ns;
            while (k < items.length && items[k][1] + items[k][2] <= t) k++;
            out[b] = k < items.length && items[k][1] <= t ? k : -1;
        }
        return out;
    }

    function timelinePart(r, i, grid) {
        var tl = r.timeline;
        var part = el('div', {class: 'part wide'}, el('h3', null, r.gpu ? 'GPU busy over time, per device and stream' : 'Host calls over time, per thread'));
        grid.appendChild(part);
        if (!tl.tracks.length) { part.appendChild(el('p', {class: 'note'}, 'Nothing ran on a stream in this run.')); return; }
        var xs = [];
        for (var b = 0; b < tl.bins; b++) xs.push(b * tl.bin_ns / 1e6);
        /* lanes from the top: the iterations, then each track; lane k's
         * values lie in [n - 1 - k, n - 1 - k + 0.85] */
        var steps = r.iterations.items.length ? binIterations(r, tl) : null;
        var lanes = (steps ? ['iterations'] : []).concat(tl.tracks.map(function (t) { return trackLabel(r, t); }));
        var n = lanes.length;
        var series = [{label: 'ms', value: function (u, v) { return v === null ? '' : fmtMs(v); }}], cols = [xs];
        if (steps) {
            var top = n - 1;
            cols.push(steps.map(function (s) { return s < 0 ? null : top + (s % 2 ? 0.85 : 0.45); }));
            series.push({label: 'iteration', stroke: '#888', fill: '#8884', fillTo: top, width: 1,
                         paths: uPlot.paths.stepped({align: 1}), points: {show: false},
                         value: function (u, v, si, di) { var s = di === null ? -1 : steps[di]; return s < 0 ? '-' : '#' + r.iterations.items[s][0]; }});
        }
        tl.tracks.forEach(function (t, k) {
            var base = n - 1 - (steps ? 1 : 0) - k, c = COLORS[t.device >= 0 ? t.device % COLORS.length : k % COLORS.length];
            cols.push(t.p.map(function (p) { return base + 0.85 * p / 1000; }));
            series.push({label: trackLabel(r, t), stroke: c, fill: c + '99', width: 1, fillTo: base,
                         paths: uPlot.paths.stepped({align: 1}), points: {show: false},
                         value: function (u, v) { return v === null ? '' : Math.round((v - base) / 0.85 * 100) + '% busy'; }});
        });
        var box = el('div', {class: 'chart', 'data-chart': 'timeline'});
        part.appendChild(box);
        part.appendChild(el('p', {class: 'note'}, 'Drag to zoom, double-click to zoom out. ' + tl.bins + ' bins of ' +
            fmtTime(tl.bin_ns) + ': each shows how much of its time the stream was busy' +
            (steps ? '; the top lane alternates at each iteration boundary (' + r.iterations.source + ').' : '.')));
        makeChart(box, i, 'timeline', {
            title: 'busy share of each ' + fmtTime(tl.bin_ns) + ' bin',
            height: 100 + 36 * n,
            scales: {x: {time: false}, y: {range: function () { return [0, n]; }}},
            axes: [
                {label: 'ms since the session began', values: function (u, s) { return s.map(function (v) { return String(+v.toPrecision(6)); }); }},
                {size: 170, splits: function () { return lanes.map(function (_, k) { return n - 1 - k + 0.45; }); },
                 values: function (u, s) { return s.map(function (v) { return short(lanes[n - 1 - Math.floor(v)] || '', 24); }); },
                 grid: {show: false}}
            ],
            cursor: {drag: {x: true, y: false}},
            series: series
        }, cols);
    }

    function utilisationPart(r, i, grid) {
        var tl = r.timeline;
        if (!tl.devices.length) return;
        var part = el('div', {class: 'part'}, el('h3', null, 'GPU utilisation'));
        grid.appendChild(part);
        var xs = [];
        for (var b = 0; b < tl.bins; b++) xs.push(b * tl.bin_ns / 1e6);
        var cols = [xs], series = [{label: 'ms', value: function (u, v) { return v === null ? '' : fmtMs(v); }}];
        tl.devices.forEach(function (d, k) {
            cols.push(d.p.map(function (p) { return p / 10; }));
            series.push({label: 'GPU ' + d.device + ' busy %', stroke: COLORS[k % COLORS.length], width: 1,
                         points: {show: false}, value: function (u, v) { return v === null ? '' : v.toFixed(1) + '%'; }});
        });
        var box = el('div', {class: 'chart', 'data-chart': 'utilisation'});
        part.appendChild(box);
        makeChart(box, i, 'utilisation', {
            title: 'busy % per device', height: 260,
            scales: {x: {time: false}, y: {range: [0, 100]}},
            axes: [{label: 'ms since the session began'}, {label: '% busy'}],
            cursor: {drag: {x: true, y: false}},
            series: series
        }, cols);
        part.appendChild(table([
            {label: 'device', cell: function (d) { return ['GPU ' + d.device, d.device]; }},
            {label: 'busy', cell: function (d) { return [fmtTime(d.busy_ns), d.busy_ns]; }},
            {label: 'busy %', cell: function (d) { var p = r.length_ns ? 100 * d.busy_ns / r.length_ns : 0; return [p.toFixed(2) + '%', p]; }},
            {label: 'idle', cell: function (d) { var v = Math.max(0, r.length_ns - d.busy_ns); return [fmtTime(v), v]; }}
        ], tl.devices, {name: 'utilisation'}));
        tl.devices.forEach(function (d) {
            part.appendChild(el('h3', null, 'Longest idle gaps of GPU ' + d.device));
            part.appendChild(table([
                {label: 'idle for', cell: function (g) { return [fmtTime(g[1]), g[1]]; }},
                {label: 'from', cell: function (g) { return [fmtMs(g[0] / 1e6), g[0]]; }},
                {label: 'after', name: true, cell: function (g) { return [g[2] === null ? '(session start)' : g[2], null]; }},
                {label: 'before', name: true, cell: function (g) { return [g[3] === null ? '(session end)' : g[3], null]; }}
            ], d.gaps, {name: 'gaps', sortable: true}));
        });
    }

    function median(v) {
        var s = v.slice().sort(function (a, b) { return a - b; });
        return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0;
    }

    function iterationsPart(r, i, grid) {
        var it = r.iterations;
        var part = el('div', {class: 'part'}, el('h3', null, 'Iterations'));
        grid.appendChild(part);
        if (!it.items.length) {
            part.appendChild(el('p', {class: 'note'}, 'No iteration boundaries in this run (omni_step, the step signal, step_on, or ProfilerStep#N).'));
            return;
        }
        var box = el('div', {class: 'chart', 'data-chart': 'iterations'});
        part.appendChild(box);
        var durs = it.items.map(function (x) { return x[2]; });
        makeChart(box, i, 'iterations', {
            title: 'duration of each iteration (ms)', height: 260,
            scales: {x: {time: false}},
            axes: [{label: 'iteration'}, {label: 'ms'}],
            cursor: {drag: {x: true, y: false}},
            series: [{label: 'iteration'},
                     {label: 'ms', fill: COLORS[2] + 'cc', stroke: COLORS[2], paths: uPlot.paths.bars({size: [0.8, 40]}),
                      points: {show: false}, value: function (u, v) { return v === null ? '' : fmtMs(v); }}]
        }, [it.items.map(function (x) { return x[0]; }), durs.map(function (d) { return d / 1e6; })]);
        var sum = durs.reduce(function (a, b) { return a + b; }, 0);
        part.appendChild(facts([
            ['iterations', it.count + (it.count > it.items.length ? ' (the first ' + it.items.length + ' drawn)' : '') + ', from ' + it.source],
            ['min / median / max', fmtTime(Math.min.apply(null, durs)) + ' / ' + fmtTime(median(durs)) + ' / ' + fmtTime(Math.max.apply(null, durs))],
            ['mean', fmtTime(sum / durs.length)]
        ]));
        part.appendChild(numbers('numbers', function () {
            return table([
                {label: 'iteration', cell: function (x) { return ['#' + x[0], x[0]]; }},
                {label: 'start (ms)', cell: function (x) { return [(x[1] / 1e6).toFixed(3), x[1]]; }},
                {label: 'duration', cell: function (x) { return [fmtTime(x[2]), x[2]]; }}
            ], it.items, {name: 'iterations', sortable: true, scroll: true});
        }));
    }

    function memoryPart(r, i, grid) {
        if (!r.memory.length) return;
        var tl = r.timeline;
        var part = el('div', {class: 'part'}, el('h3', null, 'Memory'));
        grid.appendChild(part);
        var xs = [];
        for (var b = 0; b < tl.bins; b++) xs.push(b * tl.bin_ns / 1e6);
        r.memory.forEach(function (m) {
            var label = m.device >= 0 ? 'GPU ' + m.device : 'host';
            var box = el('div', {class: 'chart', 'data-chart': 'memory'});
            part.appendChild(box);
            var mib = function (a) { return a.map(function (v) { return v === null ? null : v / 1024; }); };
            makeChart(box, i, 'memory', {
                title: label + ' memory (MiB)', height: 240,
                scales: {x: {time: false}},
                axes: [{label: 'ms since the session began'}, {label: 'MiB'}],
                cursor: {drag: {x: true, y: false}},
                series: [{label: 'ms'},
                         {label: 'allocated', stroke: COLORS[3], width: 1.5, points: {show: false}, paths: uPlot.paths.stepped({align: 1})},
                         {label: 'reserved', stroke: COLORS[4], width: 1, points: {show: false}, paths: uPlot.paths.stepped({align: 1})}]
            }, [xs, mib(m.allocated_kib), mib(m.reserved_kib)]);
        });
        part.appendChild(table([
            {label: 'memory', cell: function (m) { return [m.device >= 0 ? 'GPU ' + m.device : 'host', m.device]; }},
            {label: 'peak allocated', cell: function (m) { return [fmtBytes(m.peak_allocated), m.peak_allocated]; }},
            {label: 'peak reserved', cell: function (m) { return [fmtBytes(m.peak_reserved), m.peak_reserved]; }},
            {label: 'samples', cell: function (m) { return [String(m.points), m.points]; }}
        ], r.memory, {name: 'memory'}));
    }

    function tablePart(r, i, grid) {
        var part = el('div', {class: 'part wide'}, el('h3', null, 'Time table (as profiler_out_*.txt)'));
        grid.appendChild(part);
        part.appendChild(el('p', {class: 'note'}, 'Click a column to sort. ' +
            (r.gpu ? 'GPU rows with the host time of the calls that launched them.' : 'No GPU activity: rows from the recorded calls.') +
            (r.rows_more ? ' ' + r.rows_more + ' more rows are not shown; their times are in the totals.' : '')));
        part.appendChild(table(rowCols(r), r.rows, {name: 'time-table', sortable: true, scroll: true}));
        part.appendChild(el('p', {class: 'note'}, 'Self CUDA time total: ' + (r.gpu ? fmtTime(r.gpu_total_ns) : '-') +
            '; Host API time total: ' + fmtTime(r.host_total_ns)));
    }

    function runSection(r, i) {
        var sec = el('section', {class: 'run', id: 'run-' + i, 'data-run': i});
        root.appendChild(sec);
        sec.appendChild(el('h2', null, runTitle(r)));
        header(r, sec);
        var grid = el('div', {class: 'grid'});
        sec.appendChild(grid);
        kernelsPart(r, i, grid);
        copiesPart(r, i, grid);
        timelinePart(r, i, grid);
        utilisationPart(r, i, grid);
        iterationsPart(r, i, grid);
        memoryPart(r, i, grid);
        tablePart(r, i, grid);
    }

    /* ---- before / after ---------------------------------------------------------- */

    /* omniprof diff's numbers: a row is [name, before ns, after ns, before
     * calls, after calls, "new" | "gone" | null]. */
    function fmtDelta(b, a) { return (a >= b ? '+' : '-') + fmtTime(Math.abs(a - b)); }
    function fmtDeltaPct(x) {
        if (x[5]) return x[5];
        var b = x[1], a = x[2];
        if (!b) return a ? '+inf%' : '0.00%';
        var p = 100 * (a - b) / b;
        return (p >= 0 ? '+' : '') + p.toFixed(2) + '%';
    }
    function fmtAvg(ns, calls) { return calls ? fmtTime(Math.floor(ns / calls)) : '-'; }

    function diffSection(d) {
        var sec = el('section', {class: 'diff', id: 'diff'});
        root.appendChild(sec);
        var unit = d.gpu ? 'GPU' : 'Host';
        sec.appendChild(el('h2', null, 'Before / after: the largest changes in ' +
            (d.gpu ? 'GPU time' : 'host time of the launching calls')));
        sec.appendChild(facts([['before', d.before || '-'], ['after', d.after || '-']]));
        if (!d.rows.length) { sec.appendChild(el('p', {class: 'note'}, 'Nothing to compare.')); return; }
        var delta = function (x) { return (x[2] - x[1]) / 1e6; };
        var top = d.rows.slice(0, 20);
        var box = el('div', {class: 'chart', 'data-chart': 'diff'});
        sec.appendChild(box);
        var names = top.map(function (x) { return x[0]; });
        var up = top.map(function (x) { var v = delta(x); return v > 0 ? v : null; });
        var down = top.map(function (x) { var v = delta(x); return v < 0 ? v : null; });
        var idx = names.map(function (_, k) { return k; });
        var n = names.length;
        makeChart(box, -1, 'diff', {
            title: 'after \u2212 before (ms)',
            height: 70 + 26 * n,
            scales: {
                x: {time: false, ori: 1, dir: 1, range: function () { return [-0.5, n - 0.5]; }},
                y: {ori: 0, dir: 1}
            },
            axes: [
                {scale: 'x', side: 3, size: 290, gap: 6, grid: {show: false}, ticks: {show: false},
                 splits: function () { return idx; },
                 values: function (uu, s) { return s.map(function (k) { return short(names[k] || '', 40); }); }},
                {scale: 'y', side: 2, label: 'ms'}
            ],
            cursor: {drag: {x: false, y: false}, points: {show: false}},
            series: [
                {label: 'name', value: function (uu, k) { return k === null || names[k] === undefined ? '' : names[k]; }},
                {label: 'slower', fill: '#c0392bcc', stroke: '#c0392b', paths: uPlot.paths.bars({size: [0.7, 28], align: 0}), points: {show: false}},
                {label: 'faster', fill: '#2e8b57cc', stroke: '#2e8b57', paths: uPlot.paths.bars({size: [0.7, 28], align: 0}), points: {show: false}}
            ]
        }, [idx, up, down], names);
        sec.appendChild(el('p', {class: 'note'}, 'The table of omniprof diff --by kernel for the same traces. Click a column to sort.'));
        var pctKey = function (x) { var b = x[1], a = x[2]; return x[5] === 'new' ? 1e300 : x[5] === 'gone' ? -1e300 : b ? 100 * (a - b) / b : (a ? 1e300 : 0); };
        var total = ['Total'].concat(d.total);
        sec.appendChild(table([
            {label: 'Name', name: true, cell: function (x) { return [x[0], null]; }},
            {label: 'Calls before', cell: function (x) { return [String(x[3]), x[3]]; }},
            {label: 'Calls after', cell: function (x) { return [String(x[4]), x[4]]; }},
            {label: unit + ' before', cell: function (x) { return [fmtTime(x[1]), x[1]]; }},
            {label: unit + ' after', cell: function (x) { return [fmtTime(x[2]), x[2]]; }},
            {label: 'Avg before', cell: function (x) { return [fmtAvg(x[1], x[3]), x[3] ? x[1] / x[3] : -1]; }},
            {label: 'Avg after', cell: function (x) { return [fmtAvg(x[2], x[4]), x[4] ? x[2] / x[4] : -1]; }},
            {label: 'Delta', cell: function (x) { return [fmtDelta(x[1], x[2]), x[2] - x[1]]; }},
            {label: 'Delta %', cell: function (x) { return [fmtDeltaPct(x), pctKey(x)]; }}
        ], d.rows, {name: 'diff', sortable: true, scroll: true, foot: total}));
        var count = (d.rows.length + (d.rows_more || 0)) + ' rows: ' + (d.new || 0) + ' new, ' + (d.gone || 0) + ' gone';
        sec.appendChild(el('p', {class: 'note diff-count'}, count +
            (d.rows_more ? '; ' + d.rows_more + ' more not shown (in the total)' : '')));
    }

    /* ---- the page ------------------------------------------------------------------ */

    root.textContent = '';
    root.appendChild(el('h1', null, 'omniprof report'));
    root.appendChild(el('p', {class: 'note'}, data.runs.length + (data.runs.length === 1 ? ' process' : ' processes or stages') +
        '. Every chart is drawn from numbers aggregated when the page was written; the events themselves are in the trace files linked below.'));
    if (data.runs.length > 1 || data.diff) {
        root.appendChild(el('nav', {class: 'runs'}, data.diff ? el('a', {href: '#diff'}, 'before / after') : null,
            data.runs.map(function (r, i) { return el('a', {href: '#run-' + i}, runTitle(r)); })));
    }
    if (data.diff) diffSection(data.diff);
    data.runs.forEach(runSection);
    document.body.setAttribute('data-ready', 'true');
})();
