"""A fake of keystonemiddleware's auth_token filter for trove-api's paste pipeline.

The token names the project: token T is project T, user T. Tokens starting with `admin` also
carry the admin role. A token listed in the JSON file named by the filter's `token_map` option
(read on every request, so the test may write it after the API started) is that entry's
project instead: this lets a Swift tempauth token act as the user of the Swift account.
Every request also gets an X-Service-Catalog with the object-store endpoint of its project
(filter option `swift_url`, ending in `AUTH_`) and the identity endpoint (filter option
`identity_url`), as Keystone's catalog would give the guest.
"""

import json

import webob.dec
import webob.exc


def _load_map(path):
    if not path:
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


class FakeAuthToken(object):
    def __init__(self, app, conf):
        self.app = app
        self.token_map = conf.get('token_map')
        self.swift_url = conf.get('swift_url')
        self.identity_url = conf.get('identity_url')
        self.region = conf.get('region_name', 'RegionOne')

    def _identity(self, token):
        entry = _load_map(self.token_map).get(token)
        project = entry['project'] if entry else token
        roles = ['member']
        if token.startswith('admin') or (entry and entry.get('admin')):
            roles = ['admin', 'member']
        return project, roles

    def _catalog(self, project):
        catalog = []
        if self.swift_url:
            url = '%s%s' % (self.swift_url, project)
            catalog.append({'type': 'object-store', 'name': 'swift', 'endpoints': [
                {'region': self.region, 'publicURL': url, 'internalURL': url, 'adminURL': url}]})
        if self.identity_url:
            url = self.identity_url
            catalog.append({'type': 'identity', 'name': 'keystone', 'endpoints': [
                {'region': self.region, 'publicURL': url, 'internalURL': url, 'adminURL': url}]})
        return catalog

    @webob.dec.wsgify
    def __call__(self, req):
        # Never trust identity headers a client sent itself.
        for header in ('X-Identity-Status', 'X-Tenant-Id', 'X-Tenant-Name', 'X-Project-Id',
                       'X-Project-Name', 'X-User-Id', 'X-User-Name', 'X-Role', 'X-Roles',
                       'X-Service-Catalog'):
            req.headers.pop(header, None)
        token = req.headers.get('X-Auth-Token') or req.headers.get('X-Storage-Token')
        if not token:
            return webob.exc.HTTPUnauthorized(
                'Authentication required',
                headers=[('WWW-Authenticate', 'Keystone uri="fake"')])
        project, roles = self._identity(token)
        req.headers['X-Auth-Token'] = token
        req.headers['X-Identity-Status'] = 'Confirmed'
        req.headers['X-Tenant-Id'] = project
        req.headers['X-Project-Id'] = project
        req.headers['X-Tenant-Name'] = project
        req.headers['X-Project-Name'] = project
        req.headers['X-User-Id'] = project
        req.headers['X-User-Name'] = project
        req.headers['X-Role'] = ','.join(roles)
        req.headers['X-Roles'] = ','.join(roles)
        req.headers['X-Service-Catalog'] = json.dumps(self._catalog(project))
        return req.get_response(self.app)


def filter_factory(global_conf, **local_conf):
    conf = dict(global_conf)
    conf.update(local_conf)

    def auth_filter(app):
        return FakeAuthToken(app, conf)
    return auth_filter
