/**
 * The bounds and building blocks every method schema shares (spec trove-rpc.md §5, §8):
 *
 * - Every kwarg is optional: a 1.0-capped controller drops `ds_version` and a future one may drop
 *   others (spec §8 "treat all of these args as optional"); handlers fill in defaults.
 * - The kwargs object itself is closed (`additionalProperties: false`): Trove 18's Python guest
 *   would raise TypeError on an unknown kwarg too. Dicts whose content Trove builds and may grow
 *   (backup_info, cluster_config, snapshot, overrides, users, databases, modules) stay open.
 * - Every string and list has a bound, so a hostile 10 MB argument is refused by validation
 *   before any handler sees it (the transport also caps the whole message size).
 * `nullable: true` (ajv's OpenAPI keyword) instead of `type: [x, 'null']` keeps ajv strict mode quiet.
 */

/** Longest path we accept (Linux PATH_MAX). */
export const PATH_MAX = 4096;
/** Rendered config.template for the datastore; a few KB in practice. */
export const CONFIG_MAX = 1024 * 1024;
export const NAME_MAX = 255;

export const absolutePath = { type: 'string', nullable: true, minLength: 1, maxLength: PATH_MAX, pattern: '^/' } as const;
export const shortString = { type: 'string', nullable: true, maxLength: NAME_MAX } as const;
/** A Trove-built dict: open, but with a bounded number of keys. */
export const openDict = { type: 'object', nullable: true, maxProperties: 256 } as const;
export const dictList = { type: 'array', nullable: true, maxItems: 256, items: { type: 'object', maxProperties: 256 } } as const;
export const flag = { type: 'boolean', nullable: true } as const;

export const noArgs = { type: 'object', additionalProperties: false, properties: {} } as const;
