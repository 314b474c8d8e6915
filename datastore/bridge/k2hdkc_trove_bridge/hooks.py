"""Post-import hooks: run a function right after a Trove module has executed.

Trove builds some module-level state at import time (template.SERVICE_PARSERS, and
trove.common.utils.ENV from CONF.template_path), so the bridge must neither import those
modules early (that would freeze template_path before trove.conf is parsed) nor miss them.
If the module is already imported the function runs at once; otherwise a sys.meta_path
finder wraps that one module's loader.
"""

import importlib.abc
import importlib.machinery
import logging
import sys
import threading

LOG = logging.getLogger(__name__)
TEMPLATE_MODULE = 'trove.common.template'
CFG_MODULE = 'trove.common.cfg'

_lock = threading.RLock()
_pending = {}   # module name -> [callbacks]
_finder = None


class _HookedLoader(importlib.abc.Loader):
    """Delegates to the real loader and runs the callbacks after exec_module."""

    def __init__(self, inner, name):
        self._inner = inner
        self._name = name

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        with _lock:
            callbacks = _pending.pop(self._name, [])
        for callback in callbacks:
            callback(module)

    def __getattr__(self, attr):
        # get_source, get_filename, is_package, resource readers ...
        return getattr(self._inner, attr)


class _PostImportFinder(importlib.abc.MetaPathFinder):

    def find_spec(self, fullname, path, target=None):
        with _lock:
            if fullname not in _pending:
                return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or isinstance(spec.loader, _HookedLoader):
            return spec
        spec.loader = _HookedLoader(spec.loader, fullname)
        return spec


def when_imported(name, callback):
    """Runs callback(module) now if `name` is imported, else right after it is."""
    global _finder
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _pending.setdefault(name, []).append(callback)
            if _finder is None:
                _finder = _PostImportFinder()
                sys.meta_path.insert(0, _finder)
            return False
    callback(module)
    return True


def _add_parser(template_module):
    from k2hdkc_trove_bridge import manifest
    from k2hdkc_trove_bridge.parser import K2hdkcConfParser
    manager = manifest.manager_name()
    if template_module.SERVICE_PARSERS.get(manager) is not K2hdkcConfParser:
        template_module.SERVICE_PARSERS[manager] = K2hdkcConfParser
        LOG.debug('k2hdkc bridge: config parser for %s registered', manager)


def install_template_parser():
    """template.SERVICE_PARSERS[<manager>] = K2hdkcConfParser, now or at import."""
    return when_imported(TEMPLATE_MODULE, _add_parser)
