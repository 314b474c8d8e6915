"""Files derived from the manifest; `python3 -m k2hdkc_trove_bridge.derive trove-conf`
prints the controller's trove.conf snippet (datastore/trove.conf.k2hdkc is its output, and
test/datastore checks that the two agree)."""

import sys

from k2hdkc_trove_bridge import DRIVER_NAME
from k2hdkc_trove_bridge import manifest
from k2hdkc_trove_bridge import options

# Trove 18's built-in notification_service_id map (common/cfg.py); the option replaces
# the whole map, so a k2hdkc entry must repeat these.
BUILTIN_SERVICE_IDS = (
    ('mysql', '2f3ff068-2bfb-4f70-9a9d-a6bb65bc084b'),
    ('percona', 'fd1723f5-68d2-409c-994f-a4a197892a17'),
    ('pxc', '75a628c3-f81b-4ffb-b10a-4087c26bc854'),
    ('redis', 'b216ffc5-1947-456c-a4cf-70f94c05f7d0'),
    ('cassandra', '459a230d-4e97-4344-9067-2a54a310b0ed'),
    ('couchbase', 'fa62fe68-74d9-4779-a24e-36f19602c415'),
    ('mongodb', 'c8c907af-7375-456f-b929-b637ff9209ee'),
    ('postgresql', 'ac277e0d-4f21-40aa-b347-1ea31e571720'),
    ('couchdb', 'f0a9ab7b-66f7-4352-93d7-071521d44c7c'),
    ('mariadb', '7a4f82cc-10d2-4bc6-aadc-d9aacc2a3cb5'),
)


def _value(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, (list, tuple)):
        return ','.join(str(v) for v in value)
    return '' if value is None else str(value)


def trove_conf(data=None):
    data = data or manifest.load()
    name = manifest.manager_name(data)
    lines = [
        '# trove.conf additions for the k2hdkc datastore (trove-api, trove-taskmanager,',
        '# trove-conductor). Generated from datastore/manifest.json by',
        '# `python3 -m k2hdkc_trove_bridge.derive trove-conf`; do not edit by hand.',
        '[DEFAULT]',
        '# Loads the bridge (oslo.config driver entry point %s).' % DRIVER_NAME,
        'config_source = %s' % DRIVER_NAME,
    ]
    sid = data.get('notification_service_id')
    if sid:
        pairs = ['%s:%s' % p for p in BUILTIN_SERVICE_IDS + ((name, sid),)]
        lines += [
            '# Optional: usage notifications for k2hdkc (replaces the whole map).',
            '#notification_service_id = %s' % ','.join(pairs),
        ]
    lines += [
        '',
        '[%s]' % DRIVER_NAME,
        'driver = %s' % DRIVER_NAME,
        '',
        '[%s]' % name,
        '# Defaults registered by the bridge; uncomment to change one.',
    ]
    for key, value in options.effective_defaults(data).items():
        lines.append(('#%s = %s' % (key, _value(value))).rstrip())
    return '\n'.join(lines) + '\n'


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv != ['trove-conf']:
        sys.stderr.write('usage: python3 -m k2hdkc_trove_bridge.derive '
                         'trove-conf\n')
        return 2
    sys.stdout.write(trove_conf())
    return 0


if __name__ == '__main__':
    sys.exit(main())
