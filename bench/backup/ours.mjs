// One backup with the agent's own pipeline (dist/src/backup: createBackup = tar -> gzip ->
// [openssl-compatible AES] -> Swift segments -> copy/SLO -> HEAD check), run as its own process so
// its peak RSS is its own. Input: a JSON line on argv[2]. Output: one JSON line on stdout.
import { createRequire } from 'node:module';
import { link } from 'node:fs/promises';
import { basename, join } from 'node:path';

const require = createRequire(import.meta.url);
const args = JSON.parse(process.argv[2]);
const { createBackup } = require(join(args.root, 'dist/src/backup/index.js'));

const started = process.hrtime.bigint();
const result = await createBackup({
  backupInfo: { id: args.id, datastore: 'k2hdkc', datastore_version: 'bench' },
  storageUrl: args.storageUrl,
  token: args.token,
  defaultContainer: args.container,
  stagingRoot: args.stagingRoot,
  // Stands in for `k2hlinetool ... ar put`: the archive appears in the staging directory.
  produceArchive: (dir) => link(args.archive, join(dir, basename(args.archive))),
  sizeGb: 1,
  ...(args.key ? { encryptionKey: args.key } : {}),
  segmentSize: args.segmentSize,
  onStatus: () => undefined,
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(`${JSON.stringify({ seconds, maxRssKiB: process.resourceUsage().maxRSS, ...result })}\n`);
