"""Config parser for the k2hdkc config.template (Trove's template.SERVICE_PARSERS entry).

The template renders to ``name = value`` lines; ``#`` and ``;`` start comment lines and
section headers are skipped, the same reading the guest agent applies to config_contents
(src/k2hdkc/overrides.ts). Values stay strings, as Trove's own parsers return them.
"""


class K2hdkcConfParser(object):

    def __init__(self, config):
        self.config = config

    def parse(self):
        items = {}
        for line in (self.config or '').splitlines():
            text = line.strip()
            if (not text or text[0] in '#;' or
                    (text.startswith('[') and text.endswith(']'))):
                continue
            name, sep, value = text.partition('=')
            if not sep:
                continue
            name = name.strip()
            if name:
                # The last occurrence wins, as for the agent.
                items[name] = value.strip()
        return list(items.items())
