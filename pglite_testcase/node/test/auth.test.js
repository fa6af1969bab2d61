'use strict';
const test = require('node:test');
const assert = require('node:assert');
const crypto = require('crypto');
const { message, int32, cstring } = require('../lib/framing');
const { ScramVerifier } = require('../lib/auth');

const hmac = (key, text) => crypto.createHmac('sha256', key).update(text).digest();
const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

// The client side of SCRAM-SHA-256, as libpq does it.
function authenticate(verifier, password, { tamper = null } = {}) {
  const exchange = verifier.exchange();
  const request = exchange.start();
  assert.strictEqual(request.readInt32BE(5), 10); // AuthenticationSASL
  assert.match(request.toString('utf8', 9), /^SCRAM-SHA-256\0/);
  const clientNonce = crypto.randomBytes(18).toString('base64');
  const clientFirstBare = `n=,r=${clientNonce}`;
  const clientFirst = Buffer.from(`n,,${clientFirstBare}`);
  const first = exchange.step(message('p', cstring('SCRAM-SHA-256'), int32(clientFirst.length), clientFirst));
  assert.ok(first.reply, 'the server continues');
  assert.strictEqual(first.reply.readInt32BE(5), 11); // AuthenticationSASLContinue
  const serverFirst = first.reply.toString('utf8', 9);
  const fields = Object.fromEntries(serverFirst.split(',').map((item) => [item[0], item.slice(2)]));
  assert.ok(fields.r.startsWith(clientNonce));
  const salted = crypto.pbkdf2Sync(password, Buffer.from(fields.s, 'base64'), Number(fields.i), 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const nonce = tamper === 'nonce' ? `${fields.r}x` : fields.r;
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const signature = hmac(sha256(clientKey), authMessage);
  const proof = Buffer.from(clientKey.map((byte, i) => byte ^ signature[i])).toString('base64');
  const final = exchange.step(message('p', Buffer.from(`${withoutProof},p=${proof}`)));
  if (final.done) {
    const expected = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
    assert.strictEqual(final.reply.readInt32BE(5), 12); // AuthenticationSASLFinal
    assert.strictEqual(final.reply.toString('utf8', 9), `v=${expected}`);
  }
  return final;
}

test('the right password authenticates, and the server proves it knows it too', () => {
  const verifier = new ScramVerifier('s3cret-Pa55');
  assert.strictEqual(authenticate(verifier, 's3cret-Pa55').done, true);
  assert.strictEqual(authenticate(verifier, 's3cret-Pa55').done, true, 'again, on a new exchange');
});

test('a wrong password fails', () => {
  const verifier = new ScramVerifier('s3cret-Pa55');
  assert.deepStrictEqual(authenticate(verifier, 'postgres'), { failed: true });
  assert.deepStrictEqual(authenticate(verifier, ''), { failed: true });
});

test('a replayed or altered exchange fails', () => {
  const verifier = new ScramVerifier('pw');
  assert.deepStrictEqual(authenticate(verifier, 'pw', { tamper: 'nonce' }), { failed: true });
});

test('garbage and other mechanisms fail without throwing', () => {
  const verifier = new ScramVerifier('pw');
  const exchange = verifier.exchange();
  exchange.start();
  assert.deepStrictEqual(exchange.step(message('p', cstring('SCRAM-SHA-256-PLUS'), int32(3), Buffer.from('n,,'))), {
    failed: true,
  });
  const other = verifier.exchange();
  other.start();
  assert.deepStrictEqual(other.step(message('p', Buffer.from('junk'))), { failed: true });
  assert.deepStrictEqual(verifier.exchange().step(message('Q', cstring('SELECT 1'))), { failed: true });
});
