import { join } from 'node:path';

export const REPO = join(__dirname, '..', '..', '..');
export const GUEST_IMAGE = join(REPO, 'guest-image');
export const APPLY_ELEMENTS = join(GUEST_IMAGE, 'lib', 'apply-elements.sh');
export const CHECK_ROOT = join(GUEST_IMAGE, 'check-root');
export const FIXTURE_CONF_D = join(REPO, 'test', 'image', 'fixtures', 'conf.d');
/** Outside the repo, so a clean clone reuses it. */
export const CACHE_DIR = process.env['K2HDKC_IMAGE_TEST_CACHE'] ?? '/var/cache/k2hdkc-trove-image-test';
