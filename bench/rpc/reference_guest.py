#!/usr/bin/python3
"""Reference guest for bench/rpc: oslo.messaging's own RPC server, set up the
way Trove 18's guest agent sets up its server, answering only rpc_ping.

Run with Debian's /usr/bin/python3 (python3-trove, oslo.messaging 14):

    reference_guest.py --config-file trove-guestagent.conf \
                       --config-file guest_info.conf

It reads the same two files our agent reads (oslo.config ignores the
agent's own [k2hdkc] group). What it mirrors, read from trove/cmd/guest.py,
trove/common/rpc/service.py and trove/rpc.py:
  * eventlet monkey patching, done by importing the trove.cmd package;
  * rpc.init(CONF) for the transport (allowed_remote_exmods as Trove sets);
  * Target(topic='guestagent.<id>', server=<id>, version='1.1');
  * SecureSerializer(TroveRequestContextSerializer(None), instance key);
  * the eventlet executor and DefaultRPCAccessPolicy.
Logging stays at WARNING: the real guest with debug = false logs nothing
per rpc_ping either. Prints 'ready' on stdout once the server consumes;
SIGTERM or SIGINT stops it.
"""

import signal
import sys

import trove.cmd  # noqa: F401  (eventlet.monkey_patch, as trove-guestagent)

import eventlet  # noqa: E402
import eventlet.event  # noqa: E402
import oslo_messaging as messaging  # noqa: E402
from oslo_messaging.rpc import dispatcher  # noqa: E402

from trove.common import cfg  # noqa: E402
from trove.common.rpc import secure_serializer  # noqa: E402
from trove.common.rpc import serializer as trove_serializer  # noqa: E402
from trove import rpc  # noqa: E402

GUEST_API_VERSION = '1.1'  # trove.guestagent.api.API.API_LATEST_VERSION


class PingEndpoint(object):
    """The one guest method the bench calls; same body as Trove's Manager."""

    def rpc_ping(self, context):
        return True


def build_server(conf):
    guest_id = conf.guest_id
    if not guest_id:
        raise SystemExit('reference_guest: guest_id is not set in the config')
    target = messaging.Target(topic='guestagent.%s' % guest_id,
                              server=guest_id, version=GUEST_API_VERSION)
    # The serializer chain trove.rpc.get_server builds for the guest.
    serializer = secure_serializer.SecureSerializer(
        trove_serializer.TroveRequestContextSerializer(None),
        conf.instance_rpc_encr_key or None)
    return messaging.get_rpc_server(
        rpc.TRANSPORT, target, [PingEndpoint()], executor='eventlet',
        serializer=serializer,
        access_policy=dispatcher.DefaultRPCAccessPolicy)


def main(argv):
    conf = cfg.CONF
    conf(args=argv[1:], project='trove')
    rpc.init(conf)
    server = build_server(conf)
    stopping = eventlet.event.Event()

    def on_signal(signum, frame):
        if not stopping.ready():
            stopping.send(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    sys.stdout.write('ready\n')
    sys.stdout.flush()
    stopping.wait()
    server.stop()
    server.wait()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
