"""Creates Trove's schema in the e2e sqlite database through Trove's own migration code.

`trove-manage db_sync` crashes on Python 3.11 (inspect.getargspec, spec section 1.2); this calls
what it would call: trove.db.get_db_api().db_sync(CONF).
Usage: python3 db_sync.py <trove.conf>
"""

import sys


def main(conf_path):
    from trove.common import cfg
    conf = cfg.CONF
    conf(args=['--config-file', conf_path], project='trove')
    from trove.db import get_db_api
    get_db_api().db_sync(conf)


if __name__ == '__main__':
    main(sys.argv[1])
