// LISTEN/NOTIFY between client connections.
//
// The one backend listens on every channel some client listens on, so PGlite's
// NotificationResponses come back in the reply of whoever sent the NOTIFY. The
// server hands each to the clients listening on its channel, with the sender's
// process id, as PostgreSQL does: at once to an idle client, after its
// transaction to one inside a transaction.
'use strict';
const { message, int32, cstring, eachMessage } = require('./framing');
const protocol = require('./protocol');

const LISTENING = /(?:^|;)\s*(listen|unlisten)\s+("(?:[^"]|"")*"|\*|[^\s;]+)/gi;

// The LISTEN / UNLISTEN statements of `sql`: [['listen', 'channel'], ['unlisten', '*'], ...].
function listenStatements(sql) {
  if (!/listen/i.test(sql)) return [];
  const found = [];
  for (const match of sql.matchAll(LISTENING)) {
    const name = match[2];
    const channel = name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name === '*' ? '*' : name.toLowerCase();
    found.push([match[1].toLowerCase(), channel]);
  }
  return found;
}

function notification(processId, channel, payload) {
  return message('A', int32(processId), cstring(channel), cstring(payload));
}

function fieldsOf(part) {
  const channel = part.indexOf(0, 9);
  const payload = part.indexOf(0, channel + 1);
  return { channel: part.toString('utf8', 9, channel), payload: part.toString('utf8', channel + 1, payload) };
}

const quoted = (channel) => `"${channel.replace(/"/g, '""')}"`;

class Notifications {
  // clients: the scheduler's set; host: query(sql); inTransaction(client): whether it holds the session
  constructor(clients, host, inTransaction) {
    this.clients = clients;
    this.host = host;
    this.inTransaction = inTransaction;
  }

  // After `client`'s batch ran: its LISTEN/UNLISTEN recorded (if the batch did not fail),
  // and channels it left that others still listen on listened to again.
  async afterBatch(client, statements, reply) {
    if (statements.length === 0 || protocol.firstError(reply)) return;
    const dropped = new Set();
    for (const [verb, channel] of statements) {
      if (verb === 'listen') {
        client.listening.add(channel);
      } else if (channel === '*') {
        client.listening.forEach((each) => dropped.add(each));
        client.listening.clear();
      } else {
        client.listening.delete(channel);
        dropped.add(channel);
      }
    }
    const stillWanted = [...dropped].filter((channel) => this.listenersOf(channel).length > 0);
    if (stillWanted.length > 0) await this.host.query(stillWanted.map((each) => `LISTEN ${quoted(each)}`).join('; '));
  }

  listenersOf(channel) {
    return [...this.clients].filter((each) => !each.closed && each.listening.has(channel));
  }

  // `reply` to `sender`, its notifications taken out and handed to their listeners.
  route(sender, reply) {
    if (reply.indexOf(0x41) < 0) return reply;
    const kept = [];
    const others = new Map(); // listener → its notifications from this reply, sent together
    let changed = false;
    for (const part of eachMessage(reply)) {
      if (part[0] !== 0x41) {
        kept.push(part);
        continue;
      }
      changed = true;
      const { channel, payload } = fieldsOf(part);
      const bytes = notification(sender.processId, channel, payload);
      for (const listener of this.listenersOf(channel)) {
        if (listener === sender) kept.push(bytes);
        else others.set(listener, [...(others.get(listener) || []), bytes]);
      }
    }
    // A transaction's notifications reach a listener in one write, as PostgreSQL sends them
    // (a driver reading "what has arrived" gets them all).
    for (const [listener, parts] of others) this.deliver(listener, Buffer.concat(parts));
    return changed ? Buffer.concat(kept) : reply;
  }

  deliver(listener, bytes) {
    if (this.inTransaction(listener) || listener.hasWork()) listener.pendingNotifications.push(bytes);
    else listener.write(bytes);
  }

  // What `client` was sent while it was busy, after a reply that leaves it idle.
  flush(client, reply) {
    if (client.pendingNotifications.length === 0 || protocol.transactionStatus(reply) !== 'I') return reply;
    const pending = client.pendingNotifications;
    client.pendingNotifications = [];
    return Buffer.concat([reply, ...pending]);
  }
}

module.exports = { Notifications, listenStatements, notification };
