import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The package version, read once from package.json (dist/src/ and src/ are both two levels down). */
export function agentVersion(): string {
  for (const candidate of [join(__dirname, '..', 'package.json'), join(__dirname, '..', '..', 'package.json')]) {
    try {
      const parsed = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'k2hdkc-trove' && typeof parsed.version === 'string') return parsed.version;
    } catch {
      // try the next location
    }
  }
  return 'unknown';
}
