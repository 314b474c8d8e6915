"""Zero-configuration fallback: imported from a ``.pth`` file (``k2hdkc_trove_bridge.pth``
holding ``import k2hdkc_trove_bridge.autoload``), it registers the bridge right after
trove.common.cfg executes, in every Python process of that interpreter that imports Trove.
Prefer the config_source driver; this hook is implicit and process-wide.
Set K2HDKC_TROVE_BRIDGE_AUTOLOAD=0 to disable it for one process.
"""

import os


def _register(cfg_module):
    import k2hdkc_trove_bridge
    k2hdkc_trove_bridge.register(cfg_module.CONF)


if os.environ.get('K2HDKC_TROVE_BRIDGE_AUTOLOAD', '1') != '0':
    try:
        from k2hdkc_trove_bridge import hooks
        hooks.when_imported(hooks.CFG_MODULE, _register)
    except Exception as e:  # never break an unrelated Python program
        import sys
        sys.stderr.write('k2hdkc_trove_bridge.autoload: %s\n' % e)
