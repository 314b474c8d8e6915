"""List an instance's backups with python-troveclient and keystoneauth1, as
`openstack database backup list --instance-id` does, and print them as JSON.

Used by the scheduler tests to check that the Trove API double (and later the
real trove-api) answers in shapes Trove's own client reads: Keystone v3
application-credential auth, the `database` catalog entry, and the
paginated backup list (the client follows `links` markers itself).

Usage: troveclient_list.py AUTH_URL CRED_ID CRED_SECRET INSTANCE_ID
"""
import json
import sys

from keystoneauth1 import session
from keystoneauth1.identity import v3
from troveclient.v1 import client


def main(auth_url, cred_id, secret, instance_id):
    auth = v3.ApplicationCredential(auth_url=auth_url,
                                    application_credential_id=cred_id,
                                    application_credential_secret=secret)
    trove = client.Client(session=session.Session(auth=auth))
    found = []
    marker = None
    while True:
        page = trove.backups.list(instance_id=instance_id, marker=marker)
        found.extend({'id': b.id, 'name': b.name, 'status': b.status,
                      'description': b.description,
                      'instance_id': b.instance_id} for b in page)
        marker = page.next
        if not marker:
            break
    json.dump(found, sys.stdout)


if __name__ == '__main__':
    main(*sys.argv[1:5])
