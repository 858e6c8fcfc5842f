// A process of WebSocket clients for the scale-out steps (bench/scaleOut.js forks it, talks to it over IPC).
// Thousands of sockets and the parsing of every frame they receive would otherwise load the process that
// writes the events and keeps the time. Each client records, for every event frame, the event's id and when
// it arrived; only at the end, told when each write was acknowledged, does the process turn that into
// latencies, a histogram of them sent back (a few hundred numbers, not millions).
//
// Messages in: {type:'connect', urls, concurrency}, {type:'acks', ids, times, stallMs, maxMs}, {type:'report'}, {type:'exit'}.
// Messages out: {type:'ready', …}, {type:'complete', …}, {type:'report', …}.
'use strict';

const WebSocket = require('ws');
const { monotonicMs, Histogram } = require('./clock');

const EVENT_MARK = Buffer.from('"data":{"id"');

/**
 * The event id of an event frame (`{"type":"event","seq":N,"data":{"id" : 7, …`, spaced as PostgreSQL's JSON
 * builder writes it, or not), found without parsing the rest; -1 for any other message.
 */
function eventId(data) {
  const at = data.indexOf(EVENT_MARK);
  if (at < 0 || at > 64) return -1;
  let i = at + EVENT_MARK.length;
  while (data[i] === 0x20 || data[i] === 0x3a) i++;
  let id = 0;
  for (let c = data[i]; c >= 0x30 && c <= 0x39; c = data[++i]) id = id * 10 + (c - 0x30);
  return id;
}

/** One client: the ids and arrival times of the event frames it got, in growing typed arrays. */
class Client {
  constructor(url) {
    this.url = url;
    this.ids = new Float64Array(1024);
    this.times = new Float64Array(1024);
    this.count = 0;
    this.closed = null;
    this.closedAt = null;
    this.socket = null;
  }

  record(id, at) {
    if (this.count === this.ids.length) {
      const ids = new Float64Array(this.count * 2);
      ids.set(this.ids);
      this.ids = ids;
      const times = new Float64Array(this.count * 2);
      times.set(this.times);
      this.times = times;
    }
    this.ids[this.count] = id;
    this.times[this.count] = at;
    this.count += 1;
  }

  /** Resolves once the first message (init) has arrived: from then on the client is live. */
  connect() {
    return new Promise((resolve, reject) => {
      // The server sends valid UTF-8; checking it again would load the machine the servers share.
      const socket = new WebSocket(this.url, { skipUTF8Validation: true, perMessageDeflate: false, handshakeTimeout: 60_000 });
      this.socket = socket;
      let live = false;
      socket.on('message', (data) => {
        const at = monotonicMs();
        if (!live) {
          live = true;
          resolve();
        }
        const id = eventId(data);
        if (id >= 0) this.record(id, at);
      });
      socket.on('close', (code) => {
        this.closed = code;
        this.closedAt = monotonicMs();
        if (!live) reject(new Error(`closed before init (${code})`));
      });
      socket.on('error', (err) => {
        if (!live) reject(err);
      });
    });
  }
}

const clients = [];
let acks = null;

async function connectAll(urls, concurrency) {
  for (const url of urls) clients.push(new Client(url));
  let next = 0;
  let failed = 0;
  let firstError = null;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, clients.length) }, async () => {
      while (next < clients.length) {
        const client = clients[next++];
        try {
          await client.connect();
        } catch (err) {
          failed += 1;
          firstError ??= err.message;
        }
      }
    }),
  );
  return { type: 'ready', connected: clients.length - failed, failed, firstError };
}

/**
 * Waits until every client that is still open has as many event frames as there were writes. A slow
 * delivery is still a delivery: it waits as long as frames keep arriving, and gives up only when none has
 * come for `stallMs` (or after `maxMs` in all).
 */
async function awaitComplete(count, stallMs, maxMs) {
  const started = monotonicMs();
  const done = () => clients.every((client) => client.count >= count || client.closed !== null || client.socket?.readyState !== WebSocket.OPEN);
  const received = () => clients.reduce((sum, client) => sum + client.count, 0);
  let last = received();
  let lastProgress = started;
  while (!done()) {
    const now = monotonicMs();
    if (now - lastProgress > stallMs || now - started > maxMs) return { type: 'complete', timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, 50));
    const total = received();
    if (total > last) {
      last = total;
      lastProgress = monotonicMs();
    }
  }
  return { type: 'complete', timedOut: false };
}

/** Latencies from each write's acknowledgement to each client's receipt, and whether every client got every event. */
function report() {
  const { ids, times } = acks;
  const index = new Map();
  for (let i = 0; i < ids.length; i++) index.set(ids[i], i);
  const histogram = new Histogram();
  const seen = new Uint8Array(ids.length);
  let complete = 0;
  let delivered = 0;
  let duplicates = 0;
  let beforeAck = 0;
  let closed = 0;
  let firstCloseAt = Infinity;
  let lastCloseAt = -Infinity;
  const closeCodes = {};
  for (const client of clients) {
    seen.fill(0);
    let distinct = 0;
    for (let k = 0; k < client.count; k++) {
      const i = index.get(client.ids[k]);
      // An event whose write was not acknowledged (an error on the writer's side) is not counted.
      if (i === undefined) continue;
      if (seen[i]) {
        duplicates += 1;
        continue;
      }
      seen[i] = 1;
      distinct += 1;
      // The frame can arrive before the writer has read its 2xx: that is no latency at all.
      let latency = client.times[k] - times[i];
      if (latency < 0) {
        beforeAck += 1;
        latency = 0;
      }
      histogram.add(latency);
    }
    delivered += distinct;
    if (distinct === ids.length) complete += 1;
    if (client.closed !== null) {
      closed += 1;
      closeCodes[client.closed] = (closeCodes[client.closed] ?? 0) + 1;
      firstCloseAt = Math.min(firstCloseAt, client.closedAt);
      lastCloseAt = Math.max(lastCloseAt, client.closedAt);
    }
  }
  return { type: 'report', clients: clients.length, complete, delivered, duplicates, beforeAck, closed, closeCodes, firstCloseAt, lastCloseAt, histogram: histogram.toJSON() };
}

process.on('message', (message) => {
  switch (message.type) {
    case 'connect':
      connectAll(message.urls, message.concurrency ?? 50).then((reply) => process.send(reply));
      break;
    case 'acks':
      acks = { ids: message.ids, times: message.times };
      awaitComplete(message.ids.length, message.stallMs, message.maxMs).then((reply) => process.send(reply));
      break;
    case 'report':
      process.send(report());
      break;
    case 'exit':
      for (const client of clients) client.socket?.terminate();
      process.disconnect();
      process.exit(0);
  }
});
