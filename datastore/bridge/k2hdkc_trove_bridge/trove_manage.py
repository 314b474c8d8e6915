"""``trove-manage`` that runs on Debian 12's Python 3.11.

Trove 18's trove/cmd/manage.py calls inspect.getargspec, which Python 3.11 removed, so
every subcommand (db_sync included) dies with AttributeError. This wrapper gives inspect
the old name back, for this process only, and runs Trove's own trove-manage:

    /usr/bin/python3 -m k2hdkc_trove_bridge.trove_manage --config-file /etc/trove/trove.conf \
        datastore_update k2hdkc ""
"""

import inspect
import sys


def fix_getargspec():
    # getfullargspec's result has the .args list trove-manage reads.
    if not hasattr(inspect, 'getargspec'):
        inspect.getargspec = inspect.getfullargspec


def main():
    fix_getargspec()
    from trove.cmd import manage
    sys.argv[0] = 'trove-manage'
    return manage.main()


if __name__ == '__main__':
    main()
