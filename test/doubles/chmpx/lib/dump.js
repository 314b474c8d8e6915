'use strict';
// The DUMP reply: real chmpx prints its whole shared-memory state (~11 KB) as nested blocks of
// left-aligned `name<spaces>= value` columns, e.g. `suspend automerge    = no`, with
// `is_operating`, the client pids and the MQ lists (k2hdkc-observed.md). The stand-in prints the
// same shape from what it knows; only the layout and the fields tests may read have to match.
const { statusWord, lastUpdate } = require('./status');

function block(indent, rows) {
  // chmpx pads names to a fixed column (`suspend automerge    = no`), wider only for longer names.
  const width = Math.max(21, ...rows.filter((r) => Array.isArray(r)).map(([k]) => k.length + 1));
  const pad = ' '.repeat(indent);
  return rows.map((r) => (Array.isArray(r) ? `${pad}${r[0].padEnd(width)}= ${r[1]}` : `${pad}${r}`));
}

function dumpText({ conf, self, state, internalId, ring }) {
  const g = conf.global;
  const isServer = self.mode === 'server';
  const out = [];
  out.push(
    ...block(0, [
      'chmpx shared memory dump',
      'chminfo{',
    ]),
    ...block(2, [
      ['pid', process.pid],
      ['start time', lastUpdate(Date.now() - Math.round(process.uptime() * 1000))],
      ['is_server_mode', isServer ? 'yes' : 'no'],
      ['max_mqueue', 72],
      ['chmpxid_type', (g.CHMPXIDTYPE || 'NAME').toUpperCase()],
      ['max_q_per_chmpxmq', 8],
      ['max_q_per_cltmq', 8],
      ['max_mq_per_client', 1],
      ['mq_per_attach', 1],
      ['mq_ack', /^(on|yes)$/i.test(g.MQACK || '') ? 'yes' : 'no'],
      ['mq_retry_count', 3],
      ['mq_timeout', 1000000],
      ['rw_timeout', 1000000],
      ['sock_retry_count', 500],
      ['con_retry_count', 20],
      ['sock_timeout', 200000],
      ['con_timeout', 500000],
      ['history_log_count', Number(g.MAXHISTLOG || 8192)],
      ['auto merge', /^(on|yes)$/i.test(g.AUTOMERGE || '') ? 'yes' : 'no'],
      ['do merge', /^(on|yes)$/i.test(g.DOMERGE || '') ? 'yes' : 'no'],
      ['suspend automerge', state.mergeSuspended && isServer ? 'yes' : 'no'],
      ['merge timeout', Number(g.MERGETIMEOUT || 0)],
      ['is_operating', state.s.action !== 'n/a' ? 'yes' : 'no'],
      ['last_chmpxid', internalId],
      ['client pids', state.attached > 0 ? 'attached' : 'none'],
    ]),
    '  chmpxman{',
    ...block(4, [
      ['group', g.GROUP],
      ['cfg_revision', g.FILEVERSION],
      ['cfg_date', g.DATE || 'n/a'],
      ['replica_count', Number(g.REPLICA || 0)],
      ['chmpx_count', ring.length],
      ['base_hash_count', ring.filter((e) => e.s.ring === 'SERVICE IN').length],
      ['chmpx_bhash_count', ring.filter((e) => e.s.ring === 'SERVICE IN').length],
      ['is_random_deliver', (g.DELIVERMODE || '').toLowerCase() === 'random' ? 'yes' : 'no'],
      ['is_auto_merge_suspend', state.mergeSuspended ? 'yes' : 'no'],
    ]),
    '    self chmpx{',
    ...block(6, [
      ['chmpxid', internalId],
      ['name', self.node.name],
      ['mode', isServer ? 'server' : 'slave'],
      ['port', self.node.port ?? -1],
      ['ctlport', self.node.ctlport],
      ['cuk', self.node.cuk],
      ['custom_seed', self.node.seed],
      ['status', statusWord(state.s)],
      ['last status update', lastUpdate(state.updatedAt)],
    ]),
    '    }',
  );
  ring.forEach((e, i) => {
    out.push(`    server chmpx[${i}]{`);
    out.push(
      ...block(6, [
        ['name', e.node.name],
        ['port', e.node.port],
        ['ctlport', e.node.ctlport],
        ['cuk', e.node.cuk],
        ['custom_seed', e.node.seed],
        ['endpoints', ''],
        ['ctlendpoints', ''],
        ['forward_peers', ''],
        ['reverse_peers', ''],
        ['ssl', 'no'],
        ['status', statusWord(e.s)],
        ['last status update', lastUpdate(e.at)],
        // Real chmpx: the socket this chmpx holds to it, -1 for none (a slave's unreachable server).
        ['sock', e.s.up ? String(10 + i) : '-1'],
      ]),
      '    }',
    );
  });
  for (const n of conf.slaves) {
    out.push('    slave chmpx{', ...block(6, [['name', n.name], ['ctlport', n.ctlport], ['cuk', n.cuk], ['custom_seed', n.seed]]), '    }');
  }
  out.push('  }', '  mqueue{');
  for (let i = 0; i < 8; i += 1) out.push(...block(4, [[`chmpx mq[${i}]`, `/${g.GROUP}-${self.node.ctlport}-${i} (msgid ${0x100 + i}, queued 0)`]]));
  out.push('  }', '}', '');
  return out.join('\n');
}

module.exports = { dumpText };
