"""The k2hdkc datastore bridge for an unpatched Trove 18 controller.

Loaded by configuration: ``[DEFAULT] config_source = k2hdkc_bridge`` makes oslo.config
call :class:`k2hdkc_trove_bridge.driver.Driver`, which calls :func:`register`. Nothing in
Trove's installed files is changed; the bridge only adds an option group, a config parser
and cluster strategy classes that Trove finds by name.
"""

__version__ = '0.1.0'

# The oslo.config driver name (entry point in namespace oslo.config.driver).
DRIVER_NAME = 'k2hdkc_bridge'


def register(conf=None):
    """Registers the [<manager>] option group on `conf` (Trove's CONF by default) and
    arranges for Trove's template module to know the k2hdkc config parser.
    Safe to call more than once."""
    from k2hdkc_trove_bridge import hooks
    from k2hdkc_trove_bridge import options
    if conf is None:
        from oslo_config import cfg
        conf = cfg.CONF
    options.register_options(conf)
    hooks.install_template_parser()
    return conf
