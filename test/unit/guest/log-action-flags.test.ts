import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentsError } from '../../../src/errors';
import { guestLogActionSchema } from '../../../src/guest/config-methods-schemas';
import { logActionFlags, toLogActionFlag } from '../../../src/guest/log-action-flags';

// guest_log_action's flags as they arrive: Trove 18's API validates them as integers 0/1
// (troveclient sends int(True)) and passes them on; other callers send booleans or words.

describe('guest_log_action flags', () => {
  it('reads 1/0, booleans, null/absent and oslo\'s boolean words', () => {
    const cases: [unknown, boolean][] = [
      [1, true], [0, false], [true, true], [false, false], [null, false], [undefined, false],
      ['1', true], ['0', false], ['true', true], ['False', false], ['yes', true], ['no', false], ['on', true], [' OFF ', false], ['', false],
    ];
    for (const [value, expected] of cases) expect(toLogActionFlag('enable', value as never), JSON.stringify(value)).toBe(expected);
  });

  it('refuses anything else, naming the flag and what it takes', () => {
    for (const value of [2, -1, 0.5, 'maybe', 'enable']) {
      expect(() => toLogActionFlag('publish', value as never)).toThrow(InvalidArgumentsError);
      expect(() => toLogActionFlag('publish', value as never)).toThrow(/publish must be 1 or 0 \(or true\/false, yes\/no, on\/off\); got /);
    }
  });

  it('refuses enable and disable together, as Trove\'s manager does', () => {
    expect(logActionFlags({ enable: 1, disable: undefined, publish: 1, discard: 0 })).toEqual({ enable: true, disable: false, publish: true, discard: false });
    expect(() => logActionFlags({ enable: 1, disable: 1, publish: 0, discard: 0 })).toThrow(/cannot enable and disable/);
  });

  it('the schema lets 1/0, booleans and short strings through and nothing else', () => {
    const validate = new Ajv({ strict: true }).compile(guestLogActionSchema);
    for (const flag of [1, 0, true, null, 'yes']) expect(validate({ log_name: 'guest', publish: flag }), JSON.stringify(flag)).toBe(true);
    for (const flag of [[1], { a: 1 }, 'x'.repeat(17)]) expect(validate({ log_name: 'guest', publish: flag }), JSON.stringify(flag)).toBe(false);
  });
});
