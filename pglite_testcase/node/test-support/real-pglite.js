// Real PGlite for the tests that need it: the package cache's node_modules on NODE_PATH, as
// the package runs node (`python -m pglite_testcase install` fills the cache and names the
// directory). CI sets it; elsewhere these tests are skipped when PGlite cannot be found.
'use strict';

function realPGlite() {
  try {
    return require('@electric-sql/pglite');
  } catch (err) {
    if (process.env.CI) throw new Error(`CI must run these tests on real PGlite (NODE_PATH): ${err.message}`);
    return null;
  }
}

const skipWithout = realPGlite() ? false : 'real PGlite not found: set NODE_PATH to the package cache\'s node_modules';

module.exports = { realPGlite, skipWithout };
