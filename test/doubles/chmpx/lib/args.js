'use strict';
// `-flag value` / `-flag` argument parsing shared by the stand-ins (AntPickax tools use single dashes).
function parseArgs(argv, withValue) {
  const opts = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (!a.startsWith('-')) continue;
    const name = a.replace(/^-+/, '');
    if (withValue.includes(name)) {
      opts[name] = argv[i + 1];
      i += 1;
    } else opts[name] = true;
  }
  return opts;
}
module.exports = { parseArgs };
