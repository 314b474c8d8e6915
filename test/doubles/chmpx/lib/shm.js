'use strict';
// The files and POSIX message queues chmpx, k2hdkc and k2hash leave on the host
// (k2hdkc-observed.md "Stopping", "Files"; chmpx lib/chmimdata.cc, lib/chmutil.cc,
// lib/chmeventmq.cc):
// - chmpx maps `<dir>/<GROUP>-<CTLPORT>.chmpx` (~7 MB) and `.k2h`, <dir> = /var/lib/antpickax,
//   or /tmp when that directory is missing. It removes them on a clean exit; a crash leaves them,
//   and the next start renames them to `*.bup`, `*.bup.0`, `*.bup.1`, ... (link + unlink).
// - chmpx opens its queues as `/<GROUP>.<16 hex digits>` (8 per server chmpx) and unlinks them
//   on a clean exit; a crash leaks them. The stand-in creates real queues through the mqueue
//   file system (/dev/mqueue) when it is mounted, and otherwise has none.
// - fullock and k2hash leave `<dir>/.fullock/fullock.shm` and `<dir>/.k2h_<hash>` behind even
//   after clean exits.
// CHMPX_DOUBLE_SHM_DIR / CHMPX_DOUBLE_MQUEUE_DIR move them for tests (the real paths are fixed).
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');

const CHMPX_SHM_BYTES = 7 * 1024 * 1024;
const QUEUES_PER_CHMPX = 8;

function isDir(p) {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Where chmpx keeps its files: /var/lib/antpickax, else /tmp (chmimdata.cc MakeFilePath). */
function shmDir() {
  if (process.env.CHMPX_DOUBLE_SHM_DIR) return process.env.CHMPX_DOUBLE_SHM_DIR;
  return isDir('/var/lib/antpickax') ? '/var/lib/antpickax' : '/tmp';
}

function mqueueDir() {
  const dir = process.env.CHMPX_DOUBLE_MQUEUE_DIR || '/dev/mqueue';
  return isDir(dir) ? dir : undefined;
}

/** `<dir>/<GROUP>-<CTLPORT>` + ext. */
function chmpxFile(group, ctlport, ext) {
  return path.join(shmDir(), `${group}-${ctlport}${ext}`);
}

/** Renames `file` to the first free `file.bup`, `file.bup.0`, ... (chmutil.cc move_file_to_backup). */
function moveToBackup(file) {
  let target = `${file}.bup`;
  for (let n = 0; fs.existsSync(target); n += 1) target = `${file}.bup.${n}`;
  fs.linkSync(file, target);
  fs.unlinkSync(file);
  return target;
}

/** chmpx's shared memory files and queues; `debug` is lib/debug.js's logger. */
class ChmpxShm {
  constructor(group, ctlport, debug) {
    this.group = group;
    this.files = ['.chmpx', '.k2h'].map((ext) => chmpxFile(group, ctlport, ext));
    this.debug = debug;
    this.queues = [];
    this.fds = [];
  }

  /** Creates the files (a crash's leftovers become .bup first) and the queues. */
  create() {
    for (const file of this.files) {
      if (fs.existsSync(file)) this.debug.msg('MoveFileToBackup(449)', `backup file ${moveToBackup(file)} made from ${file}.`);
      const fd = fs.openSync(file, 'w+', 0o666);
      fs.ftruncateSync(fd, file.endsWith('.chmpx') ? CHMPX_SHM_BYTES : 4096); // sparse, like the real mapping
      this.fds.push(fd); // held open for the process's life, as the real one keeps them mapped
    }
    const dir = mqueueDir();
    if (dir === undefined) return;
    for (let i = 0; i < QUEUES_PER_CHMPX; i += 1) {
      const q = path.join(dir, `${this.group}.${crypto.randomBytes(8).toString('hex')}`);
      try {
        this.queues.push({ path: q, fd: fs.openSync(q, 'wx', 0o666) });
      } catch (err) {
        this.debug.err('InitializeMQ(687)', `Failed to open MQ(/${path.basename(q)}) by errno=${err.code}.`);
      }
    }
  }

  /** A clean exit: everything goes. */
  remove() {
    for (const fd of this.fds) fs.closeSync(fd);
    this.fds = [];
    for (const file of this.files) fs.rmSync(file, { force: true });
    for (const q of this.queues) {
      try {
        fs.closeSync(q.fd);
        fs.unlinkSync(q.path);
      } catch {
        // already gone
      }
    }
    this.queues = [];
    this.fds = [];
  }
}

/** True once chmpx's shared memory exists (k2hdkc attaches to it). */
function chmpxShmReady(group, ctlport) {
  return fs.existsSync(chmpxFile(group, ctlport, '.chmpx'));
}

/** fullock's and k2hash's files, which nobody removes (observed after clean exits). */
function leaveLibraryFiles(seed) {
  const dir = shmDir();
  try {
    fs.mkdirSync(path.join(dir, '.fullock'), { recursive: true });
    fs.closeSync(fs.openSync(path.join(dir, '.fullock', 'fullock.shm'), 'a', 0o666));
    const hash = crypto.createHash('sha256').update(String(seed)).digest('hex').slice(0, 16);
    fs.closeSync(fs.openSync(path.join(dir, `.k2h_${hash}`), 'a', 0o666));
  } catch {
    // the real libraries fall back silently too
  }
}

module.exports = { ChmpxShm, chmpxShmReady, leaveLibraryFiles, moveToBackup, shmDir, mqueueDir };
