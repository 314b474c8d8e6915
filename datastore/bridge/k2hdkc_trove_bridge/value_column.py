"""Trove 18's configuration_parameters.configuration_value is VARCHAR(128) (migration
020): MySQL/MariaDB and PostgreSQL refuse or cut longer configuration-group values, such
as a long extdata-url. Reports the declared length and, when asked, widens it."""

import sys

VALUE_TABLE = 'configuration_parameters'
VALUE_COLUMN = 'configuration_value'


def value_column_length(engine):
    """Declared length of configuration_value (None when unlimited)."""
    import sqlalchemy
    for column in sqlalchemy.inspect(engine).get_columns(VALUE_TABLE):
        if column['name'] == VALUE_COLUMN:
            return getattr(column['type'], 'length', None)
    raise RuntimeError('%s.%s not found: run with --db-sync first'
                       % (VALUE_TABLE, VALUE_COLUMN))


def widen_statement(dialect, length):
    """The ALTER for `dialect`, or None where lengths are not enforced."""
    if dialect in ('mysql', 'mariadb'):
        return ('ALTER TABLE %s MODIFY %s VARCHAR(%d) NULL'
                % (VALUE_TABLE, VALUE_COLUMN, length))
    if dialect == 'postgresql':
        return ('ALTER TABLE %s ALTER COLUMN %s TYPE VARCHAR(%d)'
                % (VALUE_TABLE, VALUE_COLUMN, length))
    if dialect == 'sqlite':
        return None
    raise RuntimeError('do not know how to widen %s on %s'
                       % (VALUE_COLUMN, dialect))


def check_value_column(engine, wanted, widen):
    """Reports (and with widen, fixes) the value column. Returns a status word:
    ok | widened | unenforced | narrow."""
    import sqlalchemy
    length = value_column_length(engine)
    dialect = engine.dialect.name
    if length is None or length >= wanted:
        print('%s.%s: %s, enough for %d-character values'
              % (VALUE_TABLE, VALUE_COLUMN,
                 'unlimited' if length is None else 'VARCHAR(%d)' % length,
                 wanted))
        return 'ok'
    statement = widen_statement(dialect, wanted)
    if statement is None:
        print('%s.%s: VARCHAR(%d) declared, but %s does not enforce VARCHAR '
              'lengths; values up to %d characters are stored whole'
              % (VALUE_TABLE, VALUE_COLUMN, length, dialect, wanted))
        return 'unenforced'
    if widen:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(statement))
        print('%s.%s: widened from VARCHAR(%d) to VARCHAR(%d)'
              % (VALUE_TABLE, VALUE_COLUMN, length, wanted))
        return 'widened'
    sys.stderr.write(
        'WARNING: %s.%s is VARCHAR(%d) on %s: configuration-group values '
        'longer than %d characters (e.g. a long extdata-url) will be refused '
        'or cut. Re-run with --widen-values to apply:\n  %s;\n'
        % (VALUE_TABLE, VALUE_COLUMN, length, dialect, length, statement))
    return 'narrow'
