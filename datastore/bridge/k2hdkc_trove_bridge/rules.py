"""Checks validation-rules.json before Trove loads it (Trove's loader accepts anything and
a bad type only fails later, when a user creates a configuration group)."""

import json

TYPES = ('integer', 'string', 'boolean', 'float')


class RulesError(Exception):
    pass


def load_rules(path):
    """The list of parameter rules, checked; raises RulesError naming the problem."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise RulesError('%s: %s' % (path, e))
    params = data.get('configuration-parameters') if isinstance(data, dict) \
        else None
    if not isinstance(params, list) or not params:
        raise RulesError('%s: "configuration-parameters" must be a non-empty '
                         'list' % path)
    seen = set()
    for i, p in enumerate(params):
        where = '%s: parameter %d' % (path, i)
        if not isinstance(p, dict):
            raise RulesError(where + ' is not an object')
        name = p.get('name')
        if not isinstance(name, str) or not name or len(name) > 128:
            raise RulesError(where + ': name must be a string of 1-128 chars')
        where = '%s: %s' % (path, name)
        if name.lower() in seen:
            raise RulesError(where + ' appears twice')
        seen.add(name.lower())
        if not isinstance(p.get('restart_required'), bool):
            raise RulesError(where + ': restart_required must be true/false')
        if p.get('type') not in TYPES:
            raise RulesError(where + ': type must be one of ' +
                             ', '.join(TYPES))
        for bound in ('min', 'max'):
            value = p.get(bound)
            if value is not None and (isinstance(value, bool) or
                                      not isinstance(value, int)):
                # Trove compares min/max with int() only.
                raise RulesError(where + ': %s must be an integer' % bound)
        if (p.get('min') is not None and p.get('max') is not None and
                p['min'] > p['max']):
            raise RulesError(where + ': min is above max')
    return params
