// The npm tiktoken@1.0.22 WASM package, the reference encoder of the test-vector generators
// (tokenizer.md section 8): fetched with `npm pack` into a temporary directory and checked
// against its npm integrity, or taken from an unpacked `package/` directory given by the caller.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const PKG = 'tiktoken@1.0.22';
const INTEGRITY = 'sha512-' +
    'PKvy1rVF1RibfF3JlXBSP0Jrcw2uq3yXdgcEXtKTYn3QJ/cBRBHDnrJ5jHky+MENZ6DIPwNUGWpkVx+7joCpNA==';

// Returns { dir, tmp }: dir holds tiktoken.cjs; tmp (or null) is for the caller to remove.
// die(msg) is called on an integrity mismatch.
function loadTiktoken(dir, tmpPrefix, die) {
    if (dir)
        return { dir, tmp: null };
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
    const name = execFileSync('npm', ['pack', '--silent', PKG], { cwd: tmp, encoding: 'utf8' })
        .trim().split('\n').pop();
    const tgz = path.join(tmp, name);
    const got = 'sha512-' +
        crypto.createHash('sha512').update(fs.readFileSync(tgz)).digest('base64');
    if (got !== INTEGRITY)
        die(`${PKG}: integrity ${got}, expected ${INTEGRITY}`);
    execFileSync('tar', ['-xzf', tgz, '-C', tmp]);
    return { dir: path.join(tmp, 'package'), tmp };
}

module.exports = { PKG, INTEGRITY, loadTiktoken };
