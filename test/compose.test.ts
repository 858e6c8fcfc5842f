import { readFileSync } from 'node:fs';
import path from 'node:path';

// test/compose/smoke.js runs the compose stack for real (`.ci/run`). What a short run cannot show stays here:
// how the load balancer behaves when a replica fails mid-request, and over an hour-long quiet feed.

const directives = readFileSync(path.join(__dirname, '..', 'deploy', 'nginx.conf'), 'utf8')
  .split('\n')
  .map((line) => line.replace(/#.*/, '').trim())
  .filter((line) => line !== '');

function values(name: string, lines = directives): string[][] {
  return lines.filter((line) => line.startsWith(`${name} `)).map((line) => line.replace(/;$/, '').split(/\s+/).slice(1));
}

/** The directives of one `location` block (the file nests no block inside a location). */
function location(match: string): string[] {
  const start = directives.indexOf(`location ${match} {`);
  expect(start).toBeGreaterThan(-1);
  return directives.slice(start + 1, directives.indexOf('}', start));
}

const seconds = (value: string) => Number(/^(\d+)s?$/.exec(value)?.[1] ?? NaN);

describe('deploy/nginx.conf', () => {
  test('when a replica fails after a request reached it, then a POST or PATCH is not sent to another replica', () => {
    const retries = values('proxy_next_upstream');
    expect(retries.length).toBeGreaterThan(0);
    for (const conditions of retries) expect(conditions).not.toContain('non_idempotent');
  });

  test('when a feed is quiet between two server pings (30 s), then nginx keeps the WebSocket open for an hour', () => {
    const ws = location('= /ws');
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
      expect(values(name, ws).map(([value]) => seconds(value!))).toEqual([3600]);
    }
  });
});
