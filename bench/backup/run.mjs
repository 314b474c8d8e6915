// bench/backup: one backup of the same data into the same real Swift, twice: the agent's own
// pipeline (dist/src/backup, in its own node process) and the shell pipeline the old integration
// ran, `tar | gzip | openssl enc ... | curl -T -` (four processes joined by OS pipes, spawned
// with argument arrays). Prints throughput and peak RSS side by side. `npm run bench:backup [-- --help]`.
// A benchmark: it prints figures and never asserts them.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from '../lib/args.mjs';
import { memoryKiB } from '../rpc/lib/procs.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const MiB = 1024 * 1024;

const cli = benchArgs(
  {
    'size-mib': { type: 'string', default: '1024' },
    // Share of 1 MiB blocks that are random (incompressible); the rest is log-like text.
    'random-share': { type: 'string', default: '0.5' },
    'segment-mib': { type: 'string', default: '2048' },
    encrypt: { type: 'boolean', default: true },
    'no-encrypt': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '1' },
  },
  'usage: node bench/backup/run.mjs [--size-mib 1024] [--random-share 0.5] [--segment-mib 2048]\n' +
    '       [--no-encrypt] [--rounds 1] [--json] [--keep]\n' +
    'Needs `npm run build`, Debian swift + memcached (scripts/setup-test-env.sh), tar, gzip, openssl, curl.\n',
);
const opts = {
  sizeMiB: Number(cli['size-mib']),
  randomShare: Number(cli['random-share']),
  segmentSize: Number(cli['segment-mib']) * MiB,
  encrypt: cli.encrypt && !cli['no-encrypt'],
  rounds: Number(cli.rounds),
};
const log = (msg) => process.stderr.write(`bench/backup: ${msg}\n`);

for (const tool of ['/usr/bin/tar', '/usr/bin/gzip', '/usr/bin/openssl', '/usr/bin/curl']) {
  try {
    statSync(tool);
  } catch {
    throw new Error(`${tool} is missing; the reference pipeline needs it`);
  }
}

/** test/swift/fixture.ts compiled (tsc) into dist/bench/swift, so this .mjs can start the same Swift as the tests. */
function loadSwiftFixture() {
  const out = join(ROOT, 'dist/bench/swift');
  const res = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), [
    '--outDir', out, '--rootDir', ROOT, '--module', 'commonjs', '--target', 'ES2022', '--esModuleInterop',
    '--skipLibCheck', '--types', 'node', '--moduleResolution', 'node', join(ROOT, 'test/swift/fixture.ts'),
  ], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`could not compile test/swift/fixture.ts: ${res.stdout}${res.stderr}`);
  return createRequire(import.meta.url)(join(out, 'test/swift/fixture.js'));
}

/** A k2hash-archive stand-in of `sizeMiB`: 1 MiB blocks, `randomShare` of them random, the rest log-like text. */
async function generateData(file) {
  const out = createWriteStream(file);
  const words = ['set', 'key', 'value', 'k2hdkc', 'chmpx', 'subkey', 'attr', 'expire', 'node', 'cluster'];
  let acc = 0;
  for (let i = 0; i < opts.sizeMiB; i++) {
    acc += opts.randomShare;
    let block;
    if (acc >= 1) {
      acc -= 1;
      block = randomBytes(MiB);
    } else {
      // Text with a little entropy per line (a counter and 4 random bytes), like keys and values.
      const hex = randomBytes(MiB / 8).toString('hex');
      const lines = [];
      let len = 0;
      for (let n = 0; len < MiB; n++) {
        const r = hex.slice((n * 8) % (hex.length - 8), ((n * 8) % (hex.length - 8)) + 8);
        const line = `${words[n % words.length]}-${i}-${n} ${r} ${words[(n * 7) % words.length]}=${n * 31}\n`;
        lines.push(line);
        len += line.length;
      }
      block = Buffer.from(lines.join('')).subarray(0, MiB);
    }
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'close');
}

/** Sums VmRSS of `pids` every 50 ms; returns { stop(): peak KiB } (exited pids count 0). */
function sampleRss(pids) {
  let peak = 0;
  const read = () => {
    let sum = 0;
    for (const pid of pids()) {
      // An exited process has no status (null) or, as a zombie, no VmRSS (NaN).
      const rss = memoryKiB(pid)?.rssKiB;
      if (Number.isFinite(rss)) sum += rss;
    }
    peak = Math.max(peak, sum);
  };
  const timer = setInterval(read, 50);
  read();
  return { stop: () => { clearInterval(timer); read(); return peak; } };
}

function exitOf(child, name) {
  return new Promise((resolveExit, reject) => {
    let err = '';
    child.stderr?.on('data', (d) => { err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolveExit() : reject(new Error(`${name} exited ${code}: ${err.slice(-500)}`))));
  });
}

/** The old way: tar | gzip | openssl enc | curl -T - (one object, no segments, no copy). */
async function runPipeline(swift, work, container, key) {
  const name = `${randomUUID()}.tar.gz${key ? '.enc' : ''}`;
  const headerFile = join(work, 'curl-headers');
  writeFileSync(headerFile, `X-Auth-Token: ${swift.token}\n`, { mode: 0o600 });
  const env = { ...process.env, BENCH_KEY: key ?? '' };
  // The container exists before timing starts (ours creates it inside its timed run: a few ms).
  const made = await fetch(`${swift.url}/${container}`, { method: 'PUT', headers: { 'X-Auth-Token': swift.token } });
  if (made.status >= 300) throw new Error(`could not create container ${container}: HTTP ${made.status}`);
  const started = process.hrtime.bigint();
  const tar = spawn('/usr/bin/tar', ['-cpPf', '-', join(work, 'archive')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const gzip = spawn('/usr/bin/gzip', ['-c'], { stdio: [tar.stdout, 'pipe', 'pipe'] });
  let last = gzip;
  const procs = [tar, gzip];
  const names = ['tar', 'gzip'];
  if (key) {
    last = spawn('/usr/bin/openssl', ['enc', '-aes-256-cbc', '-md', 'sha512', '-pbkdf2', '-iter', '10000', '-salt', '-pass', 'env:BENCH_KEY'],
      { stdio: [gzip.stdout, 'pipe', 'pipe'], env });
    procs.push(last);
    names.push('openssl');
  }
  const curl = spawn('/usr/bin/curl', ['-sS', '-f', '-o', '/dev/null', '-H', `@${headerFile}`, '-T', '-', `${swift.url}/${container}/${name}`],
    { stdio: [last.stdout, 'ignore', 'pipe'] });
  procs.push(curl);
  names.push('curl');
  // Each child holds its own copy of its pipes; the parent's read ends would keep 'close' from firing.
  for (const p of procs.slice(0, -1)) p.stdout.destroy();
  const rss = sampleRss(() => procs.map((p) => p.pid));
  await Promise.all(procs.map((p, i) => exitOf(p, names[i])));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const peakKiB = rss.stop();
  const head = await fetch(`${swift.url}/${container}/${encodeURIComponent(name)}`, { method: 'HEAD', headers: { 'X-Auth-Token': swift.token } });
  return { seconds, peakKiB, bytes: Number(head.headers.get('content-length')), segments: 1 };
}

/** The agent's pipeline in its own node process (bench/backup/ours.mjs). */
async function runOurs(swift, work, container, key) {
  const args = {
    root: ROOT, id: randomUUID(), storageUrl: swift.url, token: swift.token, container,
    stagingRoot: join(work, 'staging'), archive: join(work, 'archive', 'trovebackup.k2har'), segmentSize: opts.segmentSize, key,
  };
  // Run as the agent runs (bin/k2hdkc-trove-agent's node flag).
  const child = spawn(process.execPath, ['--max-semi-space-size=1', join(HERE, 'ours.mjs'), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d.toString(); });
  const rss = sampleRss(() => [child.pid]);
  await exitOf(child, 'ours');
  const sampled = rss.stop();
  const r = JSON.parse(out.trim().split('\n').pop());
  return { seconds: r.seconds, peakKiB: Math.max(sampled, r.maxRssKiB), bytes: r.bytes, segments: r.segments };
}

const work = mkdtempSync(join(tmpdir(), 'k2hdkc-bench-backup-'));
mkdirSync(join(work, 'archive'));
mkdirSync(join(work, 'staging'));
let swift;
try {
  const { startSwift } = loadSwiftFixture();
  log(`generating ${opts.sizeMiB} MiB (${Math.round(opts.randomShare * 100)} % random, rest text) in ${work}`);
  await generateData(join(work, 'archive', 'trovebackup.k2har'));
  log('starting Swift');
  swift = await startSwift();
  const key = opts.encrypt ? randomBytes(24).toString('base64') : null;
  const rows = { ours: [], pipeline: [] };
  for (let round = 0; round < opts.rounds; round++) {
    // Alternate who goes first, so page cache and Swift warm-up favour neither.
    const order = round % 2 === 0 ? ['pipeline', 'ours'] : ['ours', 'pipeline'];
    for (const who of order) {
      const container = `bench_${who}_${round}`;
      log(`round ${round + 1}/${opts.rounds}: ${who}`);
      rows[who].push(who === 'ours' ? await runOurs(swift, work, container, key) : await runPipeline(swift, work, container, key));
    }
  }
  const inputBytes = statSync(join(work, 'archive', 'trovebackup.k2har')).size;
  const best = (list) => list.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const summary = Object.fromEntries(Object.entries(rows).map(([who, list]) => {
    const b = best(list);
    return [who, { seconds: b.seconds, mibPerSecond: inputBytes / MiB / b.seconds, peakRssMiB: Math.max(...list.map((r) => r.peakKiB)) / 1024, storedMiB: b.bytes / MiB, segments: b.segments }];
  }));
  const fmt = (n, d = 1) => n.toFixed(d).padStart(9);
  const lines = [
    `bench/backup: ${inputBytes / MiB} MiB input (${Math.round(opts.randomShare * 100)} % random), gzip${opts.encrypt ? ' + AES-256-CBC' : ''}, one local Swift, ${opts.rounds} round(s), best round shown`,
    `                       ${'ours'.padStart(9)} ${'pipeline'.padStart(9)}`,
    `seconds                ${fmt(summary.ours.seconds)} ${fmt(summary.pipeline.seconds)}`,
    `throughput (MiB/s in)  ${fmt(summary.ours.mibPerSecond)} ${fmt(summary.pipeline.mibPerSecond)}`,
    `peak RSS (MiB)         ${fmt(summary.ours.peakRssMiB)} ${fmt(summary.pipeline.peakRssMiB)}`,
    `stored (MiB)           ${fmt(summary.ours.storedMiB)} ${fmt(summary.pipeline.storedMiB)}`,
    `segments               ${fmt(summary.ours.segments, 0)} ${fmt(summary.pipeline.segments, 0)}`,
    `ours / pipeline throughput: ${(summary.ours.mibPerSecond / summary.pipeline.mibPerSecond).toFixed(2)}x`,
    `(pipeline RSS = sum of tar, gzip, openssl and curl; Swift's own servers are not counted for either)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (cli.json) process.stdout.write(`${JSON.stringify({ inputBytes, options: opts, summary, rows })}\n`);
} finally {
  await swift?.stop();
  if (cli.keep) log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
