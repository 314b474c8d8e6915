"""Reads the datastore manifest: the single source of names, versions and option defaults.

Installed copies live next to this module (the installer puts manifest.json and its schema
here); in the source tree they are two directories up (datastore/manifest.json).
"""

import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
_CANDIDATES = (_HERE, os.path.normpath(os.path.join(_HERE, '..', '..')))
MANIFEST_FILE = 'manifest.json'
SCHEMA_FILE = 'manifest.schema.json'

_cache = {}


class ManifestError(Exception):
    pass


def locate(name=MANIFEST_FILE):
    """Path of the packaged (or source-tree) manifest file `name`."""
    for base in _CANDIDATES:
        path = os.path.join(base, name)
        if os.path.isfile(path):
            return path
    raise ManifestError('%s not found next to k2hdkc_trove_bridge (looked in %s)'
                        % (name, ', '.join(_CANDIDATES)))


def validate(data, schema_path=None):
    """Checks `data` against manifest.schema.json. jsonschema ships with Trove's
    dependencies on Debian; without it only the keys the bridge reads are checked."""
    try:
        import jsonschema
    except ImportError:
        jsonschema = None
    if jsonschema is not None:
        with open(schema_path or locate(SCHEMA_FILE)) as f:
            schema = json.load(f)
        try:
            jsonschema.validate(data, schema)
        except jsonschema.ValidationError as e:
            where = '/'.join(str(p) for p in e.absolute_path) or '(top)'
            raise ManifestError('manifest invalid at %s: %s' % (where, e.message))
        return data
    for key in ('datastore', 'versions', 'options', 'configuration'):
        if key not in data:
            raise ManifestError('manifest invalid: missing %r' % key)
    return data


def load(path=None):
    """The validated manifest as a dict (cached per path)."""
    path = os.path.abspath(path or locate())
    if path not in _cache:
        with open(path) as f:
            data = json.load(f)
        schema = os.path.join(os.path.dirname(path), SCHEMA_FILE)
        validate(data, schema if os.path.isfile(schema) else None)
        _cache[path] = data
    return _cache[path]


def manager_name(data=None):
    data = data or load()
    return data['datastore']['manager']


def version(data, name=None):
    """The manifest entry of version `name` (the default version when None)."""
    name = name or data['datastore']['default_version']
    for entry in data['versions']:
        if entry['name'] == name:
            return entry
    raise ManifestError('version %r is not in the manifest' % name)
