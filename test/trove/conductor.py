"""Runs Debian's real trove-conductor against a trove_env environment."""

import ctypes
import signal
import subprocess
import time
import urllib.parse

import amqp

CONDUCTOR_BIN = '/usr/bin/trove-conductor'
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # If the harness dies (a crashed test run), the conductor must not live on
    # and keep consuming heartbeats meant for the next run's conductor.
    libc = ctypes.CDLL('libc.so.6', use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _consumers(transport_url, queue):
    """Consumer count of `queue`, or 0 when it does not exist yet."""
    url = urllib.parse.urlsplit(transport_url)
    vhost = urllib.parse.unquote(url.path[1:]) if len(url.path) > 1 else '/'
    conn = amqp.Connection(
        host='%s:%d' % (url.hostname, url.port or 5672),
        userid=urllib.parse.unquote(url.username or 'guest'),
        password=urllib.parse.unquote(url.password or 'guest'),
        virtual_host=vhost)
    conn.connect()
    try:
        ch = conn.channel()
        try:
            _, _, consumers = ch.queue_declare(queue, passive=True)
            return consumers
        except amqp.exceptions.NotFound:
            return 0
    finally:
        conn.close()


class Conductor(object):
    """One trove-conductor process; stop() is idempotent."""

    def __init__(self, conf_path, transport_url, conductor_queue):
        self.conf_path = conf_path
        self.transport_url = transport_url
        self.queue = conductor_queue
        self.proc = None

    def start(self, timeout=60.0):
        self.proc = subprocess.Popen(
            [CONDUCTOR_BIN, '--config-file', self.conf_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        # Ready means its RPC server consumes the topic queue: a heartbeat
        # cast before that would still queue, but tests want a live consumer.
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('trove-conductor exited with code %s; see'
                                   ' its log_file' % self.proc.returncode)
            if _consumers(self.transport_url, self.queue) > 0:
                return {'pid': self.proc.pid}
            time.sleep(0.2)
        self.stop()
        raise RuntimeError('trove-conductor did not consume %s within %ss'
                           % (self.queue, timeout))

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
