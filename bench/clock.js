// One clock for every process of the bench, and a histogram that merges across processes.
'use strict';

/**
 * Milliseconds on CLOCK_MONOTONIC (process.hrtime), which is the machine's, not the process's: a time
 * taken here in the writer and one taken in a client process compare directly. (performance.now() counts
 * from each process's own start; Date.now() has whole milliseconds and follows clock adjustments.)
 */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

const FLOOR_MS = 0.01;
const LOG_STEP = Math.log(1.01);

/**
 * Latencies in buckets 1% wide (from 0.01 ms up), so a percentile read from it is within 1% of the exact
 * one, whatever the count; the maximum is kept exactly.
 */
class Histogram {
  constructor() {
    this.counts = new Map();
    this.count = 0;
    this.max = 0;
  }

  add(ms) {
    const bucket = ms <= FLOOR_MS ? 0 : Math.ceil(Math.log(ms / FLOOR_MS) / LOG_STEP);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.count += 1;
    if (ms > this.max) this.max = ms;
  }

  merge(json) {
    for (const [bucket, n] of json.counts) this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + n);
    this.count += json.count;
    if (json.max > this.max) this.max = json.max;
    return this;
  }

  /** The p-th percentile (the value at rank floor(p% of the count), as support.js's percentile()), at its bucket's upper edge. */
  percentile(p) {
    if (this.count === 0) return NaN;
    const rank = Math.min(this.count - 1, Math.floor((p / 100) * this.count));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket);
      if (seen > rank) return Math.min(this.max, FLOOR_MS * Math.exp(bucket * LOG_STEP));
    }
    return this.max;
  }

  toJSON() {
    return { counts: [...this.counts], count: this.count, max: this.max };
  }
}

module.exports = { monotonicMs, Histogram };
