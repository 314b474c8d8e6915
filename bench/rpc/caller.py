#!/usr/bin/python3
"""Bench caller: calls rpc_ping through Trove's own client,
trove.guestagent.api.API(context, instance_id).rpc_ping(), and prints JSON.

Run with Debian's /usr/bin/python3. Sub-commands (driven by run.mjs):

  setup   --workdir W --transport-url U --exchange E --low-timeout S
          stdin: {"instances": [{"id": ..., "key": ...}, ...]}
          writes W/trove.conf and W/trove.sqlite (see caller_env.py);
          stdout: {"conf_path": ...}
  latency --conf C --instance ID [--instance ID2 ...] --warmup N --calls N
          [--max-seconds S]
          one thread, calls back to back, interleaved across the instances
          in rounds (one call to each, in a fresh random order every round)
          so that every guest meets the same machine noise, and follows every
          other guest equally often (a guest still busy after its reply slows
          the next call on 2 cores); N timed calls each, at most S seconds;
          stdout: {"by_instance": {ID: latency summary}}
  load    --conf C --instance ID --threads T --warmup N --duration S
          T threads, each with its own API object; after the warm-up prints
          {"ready": true}, waits for a line on stdin, then every thread calls
          back to back for S seconds; stdout: calls, errors and latencies.

Each thread builds API once and reuses it, as one request handler in
trove-api would for its calls; the client's reply queue is per process.
Errors (GuestError on timeout or a failure) are counted, never raised.
"""

import argparse
import json
import os
import random
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import caller_env  # noqa: E402


def make_api(instance_id):
    from trove.common import context as trove_context
    from trove.guestagent import api as guest_api
    ctx = trove_context.TroveContext(
        user='bench-user', project_id='bench', auth_token='bench-token',
        request_id='req-' + str(uuid.uuid4()), roles=['member'],
        is_admin=False)
    return guest_api.API(ctx, instance_id)


def ping_once(api):
    """Returns (seconds, ok) for one rpc_ping through Trove's client."""
    start = time.perf_counter()
    try:
        ok = api.rpc_ping() is True
    except Exception:  # GuestError: timeout or a failure from the guest
        ok = False
    return time.perf_counter() - start, ok


def warm_up(api, calls, budget_s=20.0):
    """Untimed calls; gives up after 3 errors or budget_s, so a dead guest
    costs at most a few low_timeouts. Returns the error count."""
    errors, deadline = 0, time.perf_counter() + budget_s
    for _ in range(calls):
        if errors >= 3 or time.perf_counter() > deadline:
            break
        errors += 0 if ping_once(api)[1] else 1
    return errors


def summarize(samples_s):
    """Nearest-rank percentiles in milliseconds."""
    if not samples_s:
        return {'n': 0}
    ordered = sorted(samples_s)
    n = len(ordered)

    def pct(p):
        return round(ordered[min(n - 1, max(0, int(p * n + 0.5) - 1))]
                     * 1000, 3)

    return {'n': n, 'p50_ms': pct(0.50), 'p90_ms': pct(0.90),
            'p99_ms': pct(0.99), 'min_ms': round(ordered[0] * 1000, 3),
            'max_ms': round(ordered[-1] * 1000, 3),
            'mean_ms': round(sum(ordered) / n * 1000, 3)}


def cmd_setup(args):
    request = json.load(sys.stdin)
    os.makedirs(args.workdir, exist_ok=True)
    conf_path = caller_env.write_conf(args.workdir, args.transport_url,
                                      args.exchange, args.low_timeout)
    conf = caller_env.load_conf(conf_path, create_schema=True)
    for inst in request['instances']:
        caller_env.add_instance(conf, inst['id'], inst['key'])
    return {'conf_path': conf_path}


def cmd_latency(args):
    caller_env.load_conf(args.conf)
    apis = [(instance, make_api(instance)) for instance in args.instance]
    warm_errors = {instance: warm_up(api, args.warmup) for instance, api in apis}
    samples = {instance: [] for instance, _ in apis}
    errors = {instance: 0 for instance, _ in apis}
    # Bounded twice: by count and by time, so a slow guest cannot stall
    # the whole bench.
    deadline = time.perf_counter() + args.max_seconds
    order = list(apis)
    shuffler = random.Random(0x6b32)
    for _ in range(args.calls):
        if time.perf_counter() > deadline:
            break
        shuffler.shuffle(order)
        for instance, api in order:
            seconds, ok = ping_once(api)
            if ok:
                samples[instance].append(seconds)
            else:
                errors[instance] += 1
    by_instance = {}
    for instance, _ in apis:
        out = summarize(samples[instance])
        out.update({'errors': errors[instance],
                    'warmup_errors': warm_errors[instance]})
        by_instance[instance] = out
    return {'by_instance': by_instance}


def cmd_load(args):
    caller_env.load_conf(args.conf)
    apis = [make_api(args.instance) for _ in range(args.threads)]
    warm_errors = sum(warm_up(api, args.warmup, 10.0) for api in apis)
    print(json.dumps({'ready': True}), flush=True)
    sys.stdin.readline()  # the start signal, so all processes begin at once
    results = [None] * args.threads
    deadline = time.perf_counter() + args.duration

    def worker(i):
        samples, errors = [], 0
        while time.perf_counter() < deadline:
            seconds, ok = ping_once(apis[i])
            if ok:
                samples.append(seconds)
            else:
                errors += 1
        results[i] = (samples, errors)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    samples = [s for r in results for s in r[0]]
    out = summarize(samples)
    out.update({'calls': len(samples), 'errors': sum(r[1] for r in results),
                'warmup_errors': warm_errors, 'elapsed_s': round(elapsed, 3),
                'threads': args.threads})
    return out


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('setup')
    s.add_argument('--workdir', required=True)
    s.add_argument('--transport-url', required=True)
    s.add_argument('--exchange', required=True)
    s.add_argument('--low-timeout', type=int, default=5)
    for name in ('latency', 'load'):
        c = sub.add_parser(name)
        c.add_argument('--conf', required=True)
        c.add_argument('--instance', required=True,
                       action='append' if name == 'latency' else 'store')
        c.add_argument('--warmup', type=int, default=200)
    sub.choices['latency'].add_argument('--calls', type=int, default=2000)
    sub.choices['latency'].add_argument('--max-seconds', type=float,
                                        default=30.0)
    sub.choices['load'].add_argument('--threads', type=int, default=4)
    sub.choices['load'].add_argument('--duration', type=float, default=5.0)
    return p.parse_args(argv)


def main(argv):
    args = parse(argv)
    handler = {'setup': cmd_setup, 'latency': cmd_latency,
               'load': cmd_load}[args.cmd]
    print(json.dumps(handler(args)), flush=True)
    # Skip interpreter teardown: closing oslo's transport threads takes
    # seconds and measures nothing.
    sys.stderr.flush()
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
