"""The oslo.config ``config_source`` driver that loads the bridge.

trove.conf::

    [DEFAULT]
    config_source = k2hdkc_bridge
    [k2hdkc_bridge]
    driver = k2hdkc_bridge

Every Trove service parses its configuration through ConfigOpts.__call__, which opens each
config_source through the driver named in its group (stevedore namespace
``oslo.config.driver``). Opening ours registers the [k2hdkc] group; the source itself holds
no values, so everything still comes from trove.conf.
"""

import logging

from oslo_config import sources

LOG = logging.getLogger(__name__)


class _EmptySource(sources.ConfigurationSource):
    """A source without values: options resolve from files and defaults as usual."""

    def get(self, group_name, option_name, opt):
        return (sources._NoValue, None)


class Driver(sources.ConfigurationSourceDriver):
    """stevedore instantiates every driver of the namespace; keep __init__ trivial."""

    def list_options_for_discovery(self):
        return []

    def open_source_from_opt_group(self, conf, group_name):
        import k2hdkc_trove_bridge
        try:
            k2hdkc_trove_bridge.register(conf)
        except Exception:
            # oslo.config only logs a failing driver; say clearly what breaks.
            LOG.exception('k2hdkc bridge could not register its options; '
                          'Trove will answer NoSuchOptError for k2hdkc')
            raise
        LOG.info('k2hdkc bridge %s loaded from [%s]',
                 k2hdkc_trove_bridge.__version__, group_name)
        return _EmptySource()
