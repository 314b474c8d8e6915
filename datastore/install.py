#!/usr/bin/python3
"""Installs the k2hdkc datastore bridge without pip (PyPI is not needed).

Copies the k2hdkc_trove_bridge package (with manifest.json and its schema) into a site
directory and writes the ``k2hdkc_trove_bridge-<version>.dist-info`` metadata whose
entry_points.txt lets stevedore find the oslo.config driver. Optionally installs the config
template for Trove's template loader, the cloud-init hook and the ``.pth`` autoload hook.

    # operators (as root): /usr/local/lib/python3.X/dist-packages + /etc/trove/templates
    /usr/bin/python3 datastore/install.py --system
    # tests: any directory, then put it on PYTHONPATH
    /usr/bin/python3 datastore/install.py --target /tmp/bridge-site

Never writes into the python3-trove package's directories. Re-running replaces the
previous installation (the package directory is swapped in by a rename).
"""

import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = 'k2hdkc_trove_bridge'
DIST = 'k2hdkc_trove_bridge'
SOURCE = os.path.join(HERE, 'bridge', PACKAGE)
# Data the package reads at run time, at the same paths relative to manifest.json.
DATA_FILES = ('manifest.json', 'manifest.schema.json', 'validation-rules.json',
              os.path.join('templates', 'config.template'))
# Trove's own files; the bridge must never be written there.
FORBIDDEN = ('/usr/lib/python3/dist-packages',)
ENTRY_POINTS = ('[oslo.config.driver]\n'
                'k2hdkc_bridge = k2hdkc_trove_bridge.driver:Driver\n\n'
                '[console_scripts]\n'
                'k2hdkc-trove-register = k2hdkc_trove_bridge.registration:main\n')


def package_version():
    scope = {}
    with open(os.path.join(SOURCE, '__init__.py')) as f:
        for line in f:
            if line.startswith('__version__'):
                exec(line, scope)
    return scope['__version__']


def system_site():
    """Debian's site directory for locally installed modules (on sys.path)."""
    return '/usr/local/lib/python%d.%d/dist-packages' % sys.version_info[:2]


def check_target(path):
    real = os.path.realpath(path)
    for forbidden in FORBIDDEN:
        if real == forbidden or real.startswith(forbidden + os.sep):
            sys.exit('install.py: refusing to write into %s (python3-trove '
                     'lives there); choose --target elsewhere' % forbidden)


def write_file(path, text, mode=0o644):
    """temp + rename, so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path),
                               prefix='.' + os.path.basename(path) + '.')
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def copy_package(site):
    """Builds the package next to its destination, then swaps it in."""
    staging = tempfile.mkdtemp(dir=site, prefix='.%s.' % PACKAGE)
    files = []
    for root, dirs, names in os.walk(SOURCE):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        rel = os.path.relpath(root, SOURCE)
        out = os.path.normpath(os.path.join(staging, rel))
        os.makedirs(out, exist_ok=True)
        for name in names:
            if name.endswith('.py'):
                shutil.copyfile(os.path.join(root, name),
                                os.path.join(out, name))
                files.append(os.path.normpath(os.path.join(PACKAGE, rel,
                                                           name)))
    for name in DATA_FILES:
        out = os.path.join(staging, name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(os.path.join(HERE, name), out)
        files.append(os.path.join(PACKAGE, name))
    for root, dirs, names in os.walk(staging):
        os.chmod(root, 0o755)
        for name in names:
            os.chmod(os.path.join(root, name), 0o644)
    final = os.path.join(site, PACKAGE)
    old = None
    if os.path.exists(final):
        old = final + '.old-%d' % os.getpid()
        os.rename(final, old)
    os.rename(staging, final)
    if old:
        shutil.rmtree(old)
    return sorted(files)


def write_dist_info(site, version, files):
    for name in os.listdir(site):
        if name.startswith(DIST + '-') and name.endswith('.dist-info'):
            shutil.rmtree(os.path.join(site, name))
    info = os.path.join(site, '%s-%s.dist-info' % (DIST, version))
    os.makedirs(info)
    os.chmod(info, 0o755)
    metadata = ('Metadata-Version: 2.1\n'
                'Name: k2hdkc-trove-bridge\n'
                'Version: %s\n'
                'Summary: K2HDKC datastore bridge for OpenStack Trove 18\n'
                'License: Apache-2.0\n' % version)
    contents = {
        'METADATA': metadata,
        'entry_points.txt': ENTRY_POINTS,
        'top_level.txt': PACKAGE + '\n',
        'INSTALLER': 'k2hdkc-trove-install\n',
    }
    for name, text in contents.items():
        write_file(os.path.join(info, name), text)
    rel_info = os.path.basename(info)
    record = [f + ',,' for f in files]
    record += ['%s/%s,,' % (rel_info, n) for n in sorted(contents)]
    record.append('%s/RECORD,,' % rel_info)
    write_file(os.path.join(info, 'RECORD'), '\n'.join(record) + '\n')
    return info


def install_template(templates_dir, manager):
    from_path = os.path.join(HERE, 'templates', 'config.template')
    out_dir = os.path.join(templates_dir, manager)
    os.makedirs(out_dir, exist_ok=True)
    with open(from_path) as f:
        text = f.read()
    target = os.path.join(out_dir, 'config.template')
    write_file(target, text)
    return target


def install_cloudinit(cloudinit_dir, manager):
    os.makedirs(cloudinit_dir, exist_ok=True)
    with open(os.path.join(HERE, 'cloudinit', 'k2hdkc.cloudinit')) as f:
        text = f.read()
    target = os.path.join(cloudinit_dir, '%s.cloudinit' % manager)
    write_file(target, text)
    return target


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument('--target', help='site directory to install into '
                       '(created if missing; put it on PYTHONPATH)')
    where.add_argument('--system', action='store_true',
                       help='install into %s, the config template into '
                       '/etc/trove/templates' % system_site())
    p.add_argument('--templates-dir', help='Trove template_path to put '
                   '<manager>/config.template into (default with --system: '
                   '/etc/trove/templates)')
    p.add_argument('--cloudinit-dir', help='also install the cloud-init '
                   'hook as <dir>/<manager>.cloudinit (Trove: '
                   'cloudinit_location, default /etc/trove/cloudinit)')
    p.add_argument('--pth', action='store_true', help='also write the '
                   'zero-config autoload hook k2hdkc_trove_bridge.pth')
    args = p.parse_args(argv)

    sys.path.insert(0, os.path.join(HERE, 'bridge'))
    from k2hdkc_trove_bridge import manifest
    data = manifest.load(os.path.join(HERE, 'manifest.json'))
    manager = manifest.manager_name(data)

    site = system_site() if args.system else os.path.abspath(args.target)
    check_target(site)
    os.makedirs(site, exist_ok=True)
    version = package_version()
    files = copy_package(site)
    info = write_dist_info(site, version, files)
    print('installed %s %s into %s' % (PACKAGE, version, site))
    print('metadata: %s' % info)

    pth = os.path.join(site, PACKAGE + '.pth')
    if args.pth:
        write_file(pth, 'import k2hdkc_trove_bridge.autoload\n')
        print('autoload hook: %s' % pth)
    elif os.path.exists(pth):
        os.unlink(pth)

    templates_dir = args.templates_dir or (
        '/etc/trove/templates' if args.system else None)
    if templates_dir:
        print('config template: %s' % install_template(templates_dir,
                                                       manager))
    if args.cloudinit_dir:
        print('cloud-init hook: %s' % install_cloudinit(args.cloudinit_dir,
                                                        manager))
    return 0


if __name__ == '__main__':
    sys.exit(main())
