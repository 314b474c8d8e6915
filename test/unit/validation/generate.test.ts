import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { generateValidators, schemasToGenerate } from '../../../src/validation/generate';
import { GENERATED_AJV_OPTIONS, precompiledValidator } from '../../../src/validation/validators';
import { capture } from '../conductor/recording-caster';

// Inside the project (node_modules/.cache, ignored by git): the generated code requires ajv's
// small runtime helpers, resolved from where the modules sit, as in dist/.
const cache = join(__dirname, '..', '..', '..', 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const dir = join(mkdtempSync(join(cache, 'k2h-validators-')), 'generated');
afterAll(() => rmSync(join(dir, '..'), { recursive: true, force: true }));

/** Inputs that pass and fail each schema, so the generated code is compared with ajv's on both. */
const SAMPLES: readonly unknown[] = [
  {},
  null,
  'x',
  [],
  capture('cast prepare v1.1 -> guestagent (encrypted)').args_decrypted,
  { fs_path: null },
  { fs_path: '/var/lib/k2hdkc' },
  { fs_path: 'relative' },
  { fs_path: `/${'a'.repeat(5000)}` },
  { surprise: 1 },
  { memory_mb: '2048' },
  { overrides: { maxthread: { nested: true } } },
  { packages: ['a', 1] },
  { root_password: 'p'.repeat(300) },
  { DEFAULT: {}, oslo_messaging_rabbit: {}, k2hdkc: {} },
];

describe('build-time validators', () => {
  const files = generateValidators(dir);

  it('writes one module per schema and an index', () => {
    expect(readdirSync(dir).sort()).toEqual([...files, 'index.json'].sort());
    expect(files).toHaveLength(schemasToGenerate().length);
  });

  it('accept and refuse exactly what ajv compiled at run time does, with the same first error', () => {
    const ajv = new Ajv(GENERATED_AJV_OPTIONS);
    for (const { name, schema } of schemasToGenerate()) {
      const generated = precompiledValidator(schema, dir);
      expect(generated, name).toBeTypeOf('function');
      const compiled = ajv.compile(schema);
      for (const sample of SAMPLES) {
        const ok = generated!(sample);
        expect(ok, `${name} ${JSON.stringify(sample).slice(0, 60)}`).toBe(compiled(sample));
        if (!ok) expect(generated!.errors?.[0], name).toEqual(compiled.errors?.[0]);
      }
    }
  });

  it('find nothing for a schema changed since the build, or where nothing was generated', () => {
    const [first] = schemasToGenerate();
    expect(precompiledValidator({ ...first!.schema, maxProperties: 3 }, dir)).toBeUndefined();
    expect(precompiledValidator(first!.schema, join(dir, 'missing'))).toBeUndefined();
  });
});
