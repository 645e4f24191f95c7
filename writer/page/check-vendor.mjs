#!/usr/bin/env node
// Checks that vendor/uplot/ holds exactly the files of the uplot package that
// package-lock.json pins: gets the package's tarball through npm (`npm pack`,
// from npm's cache when it is there: offline after the first time), checks
// it against the lock's sha512 integrity, and compares each vendored file
// byte for byte with the tarball's.  Exit 0 when all match, 1 with the
// differences named.
//
//   node writer/page/check-vendor.mjs            check
//   node writer/page/check-vendor.mjs --update   copy the locked package's files into vendor/uplot/
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const vendor = path.join(here, 'vendor', 'uplot');
const files = { 'uPlot.iife.min.js': 'dist/uPlot.iife.min.js', 'uPlot.min.css': 'dist/uPlot.min.css', LICENSE: 'LICENSE' };

const lock = JSON.parse(fs.readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
const locked = lock.packages['node_modules/uplot'];
const fail = (msg) => { console.error(`check-vendor: ${msg}`); process.exit(1); };
if (!locked) fail('package-lock.json has no node_modules/uplot');
if (pkg.dependencies.uplot !== locked.version) fail(`package.json pins uplot ${pkg.dependencies.uplot}, the lock ${locked.version}`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'omniprof-vendor-'));
try {
    let out;
    try {
        out = execFileSync('npm', ['pack', `uplot@${locked.version}`, '--prefer-offline', '--json',
            '--pack-destination', tmp], { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
        fail(`npm pack uplot@${locked.version} failed (no network and not in npm's cache?): ${String(e.stderr || e.message).trim()}`);
    }
    const tgz = path.join(tmp, JSON.parse(out)[0].filename);
    const integrity = 'sha512-' + createHash('sha512').update(fs.readFileSync(tgz)).digest('base64');
    if (integrity !== locked.integrity) fail(`the tarball of uplot@${locked.version} is ${integrity}, the lock says ${locked.integrity}`);
    execFileSync('tar', ['-xzf', tgz, '-C', tmp]);
    const banner = fs.readFileSync(path.join(tmp, 'package', 'dist', 'uPlot.iife.min.js'), 'utf8').slice(0, 80);
    if (!banner.includes(`(v${locked.version})`)) fail(`the tarball's uPlot.iife.min.js is not v${locked.version}: ${banner}`);
    const bad = [];
    for (const [name, inside] of Object.entries(files)) {
        const want = fs.readFileSync(path.join(tmp, 'package', inside));
        const file = path.join(vendor, name);
        if (process.argv.includes('--update')) {
            fs.writeFileSync(file, want);
            continue;
        }
        if (!fs.existsSync(file) || !want.equals(fs.readFileSync(file))) bad.push(`vendor/uplot/${name} differs from ${inside} of uplot@${locked.version}`);
    }
    if (bad.length) fail(bad.join('\n'));
    console.log(`check-vendor: vendor/uplot/ is uplot@${locked.version} (${locked.integrity.slice(0, 23)}...)`);
} finally {
    fs.rmSync(tmp, { recursive: true, force: true });
}
