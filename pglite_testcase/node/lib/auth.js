// SCRAM-SHA-256 password authentication (RFC 5802/7677, as PostgreSQL does it),
// for PGlite on TCP, where any local user could otherwise connect as superuser.
// PGlite accepts any password itself, so the server authenticates the client
// before it hands the startup message to PGlite.
'use strict';
const crypto = require('crypto');
const { message, int32, cstring } = require('./framing');

const MECHANISM = 'SCRAM-SHA-256';
const ITERATIONS = 4096;

const hmac = (key, text) => crypto.createHmac('sha256', key).update(text).digest();
const sha256 = (data) => crypto.createHash('sha256').update(data).digest();

function authentication(code, ...parts) {
  return message('R', int32(code), ...parts);
}

// The keys derived from the password, once per server: a connection costs two HMACs.
class ScramVerifier {
  constructor(password) {
    this.salt = crypto.randomBytes(16);
    const salted = crypto.pbkdf2Sync(password.normalize('NFKC'), this.salt, ITERATIONS, 32, 'sha256');
    this.storedKey = sha256(hmac(salted, 'Client Key'));
    this.serverKey = hmac(salted, 'Server Key');
  }

  exchange() {
    return new ScramExchange(this);
  }
}

function attributes(text) {
  const result = {};
  for (const item of text.split(',')) {
    const at = item.indexOf('=');
    if (at > 0) result[item.slice(0, at)] = item.slice(at + 1);
  }
  return result;
}

// One client's exchange: start() asks for SCRAM; each PasswordMessage ('p')
// the client sends goes to step(), which answers { reply } to send on,
// { done: true, reply } when the client proved it knows the password (reply:
// the server's signature, to send before AuthenticationOk), or { failed: true }.
class ScramExchange {
  constructor(verifier) {
    this.verifier = verifier;
    this.state = 'start';
  }

  start() {
    this.state = 'initial';
    return authentication(10, cstring(MECHANISM), Buffer.from([0]));
  }

  step(part) {
    try {
      if (part[0] !== 0x70) return { failed: true };
      if (this.state === 'initial') return this.initial(part);
      if (this.state === 'final') return this.final(part);
    } catch {
      // a malformed message is a failed authentication, never a crash
    }
    return { failed: true };
  }

  initial(part) {
    const mechanism = part.toString('utf8', 5, part.indexOf(0, 5));
    if (mechanism !== MECHANISM) return { failed: true };
    const offset = part.indexOf(0, 5) + 1;
    const length = part.readInt32BE(offset);
    const clientFirst = part.toString('utf8', offset + 4, offset + 4 + length);
    // gs2 header: "n,," or "y,," (no channel binding over plain TCP), then the bare message.
    const match = /^[ny],[^,]*,(.*)$/.exec(clientFirst);
    if (!match) return { failed: true };
    this.clientFirstBare = match[1];
    this.gs2Header = clientFirst.slice(0, clientFirst.length - match[1].length);
    const clientNonce = attributes(this.clientFirstBare).r;
    if (!clientNonce) return { failed: true };
    this.nonce = clientNonce + crypto.randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.verifier.salt.toString('base64')},i=${ITERATIONS}`;
    this.state = 'final';
    return { reply: authentication(11, Buffer.from(this.serverFirst)) };
  }

  final(part) {
    const clientFinal = part.toString('utf8', 5, part.length);
    const proofAt = clientFinal.lastIndexOf(',p=');
    if (proofAt < 0) return { failed: true };
    const withoutProof = clientFinal.slice(0, proofAt);
    const fields = attributes(withoutProof);
    if (fields.r !== this.nonce) return { failed: true };
    if (fields.c !== Buffer.from(this.gs2Header).toString('base64')) return { failed: true };
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const signature = hmac(this.verifier.storedKey, authMessage);
    if (proof.length !== signature.length) return { failed: true };
    const clientKey = Buffer.from(proof.map((byte, i) => byte ^ signature[i]));
    if (!crypto.timingSafeEqual(sha256(clientKey), this.verifier.storedKey)) return { failed: true };
    this.state = 'done';
    const serverSignature = hmac(this.verifier.serverKey, authMessage).toString('base64');
    return { done: true, reply: authentication(12, Buffer.from(`v=${serverSignature}`)) };
  }
}

module.exports = { ScramVerifier };
