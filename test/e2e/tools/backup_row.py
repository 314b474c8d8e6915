"""Prints one row of Trove's backups table as JSON (state, size, checksum, location).

Trove 18's API does not show a backup's checksum; the test compares it with Swift's ETag.
Usage: python3 backup_row.py <trove.sqlite> <backup id>
"""

import json
import sqlite3
import sys


def main(db_path, backup_id):
    with sqlite3.connect('file:%s?mode=ro' % db_path, uri=True, timeout=10) as db:
        row = db.execute('SELECT state, size, checksum, location FROM backups WHERE id = ?',
                         (backup_id,)).fetchone()
    if row is None:
        print('null')
    else:
        print(json.dumps({'state': row[0], 'size': row[1], 'checksum': row[2], 'location': row[3]}))


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2])
