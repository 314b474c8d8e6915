"""Drives a guest with Trove's own client class, trove.guestagent.api.API.

API(context, id) finds the instance key the way the taskmanager does:
trove.instance.models.get_instance_encryption_key(id) reads and unwraps
instances.encrypted_key from the database, so the harness only needs the row
that trove_env.add_instance wrote (NULL key = secure RPC off). Nothing in
Trove is patched, subclassed or injected.
"""

import uuid

GUEST_ERROR = 'trove.common.exception.GuestError'


def make_context(tenant_id, instance_id, notification, auth_token=None,
                 service_catalog=None):
    """A TroveContext like the taskmanager's, optionally with the create
    notification the guest must echo in notify_end / notify_exc_info.

    service_catalog: what trove-api's ContextMiddleware copies from
    keystonemiddleware's X-Service-Catalog header (trove/common/wsgi.py);
    like the real context, it never carries the project name."""
    from trove.common import context as trove_context
    from trove.common import notification as trove_notification
    request_id = 'req-' + str(uuid.uuid4())
    ctx = trove_context.TroveContext(
        user='conformance-user', project_id=tenant_id,
        auth_token=auth_token or 'conformance-token-not-a-secret',
        request_id=request_id, service_catalog=service_catalog,
        roles=['member'], is_admin=False)
    if notification:
        # The same traits the API puts in DBaaSInstanceCreate plus the
        # instance_id that the taskmanager's StartNotification adds.
        ctx.notification = trove_notification.DBaaSInstanceCreate(
            ctx, request_id=request_id, server_type='taskmanager',
            client_ip='127.0.0.1', server_ip='127.0.0.1', tenant_id=tenant_id,
            name='conformance', flavor_id='d2', datastore='k2hdkc',
            datastore_version='1.0.14', image_id='img-conformance',
            availability_zone='nova', region_name='RegionOne',
            instance_id=instance_id)
    return ctx


def _describe(exc):
    cls = type(exc)
    return {'class': cls.__name__, 'module': cls.__module__,
            'qualified': '%s.%s' % (cls.__module__, cls.__name__),
            'message': str(exc)}


def invoke(conf, instance_id, tenant_id, method, kwargs, cap, notification,
           low_timeout=None, auth_token=None, service_catalog=None):
    """Calls API(ctx, instance_id).<method>(**kwargs) under version cap `cap`.

    low_timeout overrides agent_call_low_timeout (seconds) for this call, so a
    test can poll a guest that is reconnecting without 10 s stalls.

    Returns {'ok': True, 'result': ...} or {'ok': False, 'error': {...}};
    the error is what Trove's caller sees (normally GuestError).
    """
    from trove.guestagent import api as guest_api
    # API reads the cap when it is built; a per-call override lets one
    # process test both `latest` (1.1) and `ussuri` (1.0).
    conf.set_override('guestagent', cap, group='upgrade_levels')
    if low_timeout is None:
        conf.clear_override('agent_call_low_timeout')
    else:
        conf.set_override('agent_call_low_timeout', low_timeout)
    # auth_token: the user's token (e.g. a Swift one for backups), as the
    # API puts the caller's Keystone token into the context.
    ctx = make_context(tenant_id, instance_id, notification, auth_token,
                       service_catalog)
    client = guest_api.API(ctx, instance_id)
    if method.startswith('_') or not callable(getattr(client, method, None)):
        raise ValueError('trove.guestagent.api.API has no method %r' % method)
    try:
        result = getattr(client, method)(**kwargs)
    except Exception as exc:  # report what Trove's caller would see
        return {'ok': False, 'error': _describe(exc),
                'cap_version': client.target.version}
    return {'ok': True, 'result': result, 'cap_version': client.target.version}


def call_method(conf, instance_id, tenant_id, method, version, kwargs, cap,
                timeout):
    """Sends any method through API._call, Trove's own call path.

    API has no public method that passes an explicit fs_path to
    get_filesystem_stats (get_volume_info always sends None), and tests also
    need a version above the cap or a made-up name; _call is the single
    function every public call method goes through, so the bytes on the wire
    and the error wrapping are exactly Trove's.
    """
    from trove.guestagent import api as guest_api
    conf.set_override('guestagent', cap, group='upgrade_levels')
    ctx = make_context(tenant_id, instance_id, False)
    client = guest_api.API(ctx, instance_id)
    try:
        result = client._call(method, timeout, version, **kwargs)
    except Exception as exc:
        return {'ok': False, 'error': _describe(exc),
                'cap_version': client.target.version}
    return {'ok': True, 'result': result, 'cap_version': client.target.version}
