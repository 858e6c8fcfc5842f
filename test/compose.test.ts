// Structural checks of docker-compose.yml and the Dockerfile, so the container
// setup cannot silently rot while the code around it changes. No database and
// no Docker engine is needed: the files are only read and parsed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const root = path.join(__dirname, '..');

type Dict = Record<string, unknown>;

function asDict(value: unknown, what: string): Dict {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${what} is not a mapping`);
  }
  return value as Dict;
}

// --- docker-compose.yml helpers -------------------------------------------

// `merge: true`: Compose resolves the YAML merge key (`<<: *anchor`) that the services share their
// settings through; the yaml package's default YAML 1.2 schema would keep `<<` as a plain key.
const compose = asDict(
  parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }),
  'docker-compose.yml',
);
const services = asDict(compose.services, 'services');
const postgres = asDict(services.postgres, 'services.postgres');
const app = asDict(services.app, 'services.app');

/** The profile of the load-balanced setup, and its two services. */
const SCALED = 'scaled';
const REPLICA = 'replica';
const LB = 'lb';
const replica = asDict(services[REPLICA], `services.${REPLICA}`);
const lb = asDict(services[LB], `services.${LB}`);

/** Both the map and the `KEY=value` list form of `environment`. */
function envOf(service: Dict): Record<string, string> {
  const env = service.environment;
  if (env === undefined || env === null) return {};
  if (Array.isArray(env)) {
    const out: Record<string, string> = {};
    for (const entry of env as string[]) {
      const i = entry.indexOf('=');
      if (i > 0) out[entry.slice(0, i)] = entry.slice(i + 1);
    }
    return out;
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(asDict(env, 'environment'))) {
    out[key] = value === null || value === undefined ? '' : String(value);
  }
  return out;
}

interface Mount {
  source?: string;
  target: string;
  readOnly: boolean;
}

/** Both the short `source:target[:mode]` and the long form of `volumes`. */
function mountsOf(service: Dict): Mount[] {
  const volumes = (service.volumes ?? []) as unknown[];
  return volumes.map((v) => {
    if (typeof v === 'string') {
      const parts = v.split(':');
      if (parts.length === 1) return { target: parts[0], readOnly: false };
      const readOnly = (parts[2] ?? '').split(',').includes('ro');
      return { source: parts[0], target: parts[1], readOnly };
    }
    const d = asDict(v, 'volume');
    return { source: d.source as string | undefined, target: String(d.target), readOnly: d.read_only === true };
  });
}

/** Both the list and the map form of `profiles`. */
function profilesOf(service: Dict): string[] {
  return ((service.profiles ?? []) as unknown[]).map(String);
}

/** Both the list and the map form of `depends_on`: dependency → condition (`service_started` by default). */
function dependenciesOf(service: Dict): Record<string, string> {
  const dependsOn = service.depends_on;
  if (dependsOn === undefined || dependsOn === null) return {};
  if (Array.isArray(dependsOn)) return Object.fromEntries(dependsOn.map((name) => [String(name), 'service_started']));
  return Object.fromEntries(
    Object.entries(asDict(dependsOn, 'depends_on')).map(([name, spec]) => [
      name,
      spec === null ? 'service_started' : String(asDict(spec, `depends_on.${name}`).condition ?? 'service_started'),
    ]),
  );
}

interface PortMapping {
  hostIp?: string;
  published?: string;
  target: string;
}

/** Both the short `[[ip:]published:]target[/proto]` and the long form of `ports`. */
function portsOf(service: Dict): PortMapping[] {
  const ports = (service.ports ?? []) as unknown[];
  return ports.map((p) => {
    if (typeof p === 'string' || typeof p === 'number') {
      const parts = String(p).replace(/\/(tcp|udp)$/, '').split(':');
      if (parts.length === 3) return { hostIp: parts[0], published: parts[1], target: parts[2] };
      if (parts.length === 2) return { published: parts[0], target: parts[1] };
      return { target: parts[0] };
    }
    const d = asDict(p, 'port');
    return {
      hostIp: d.host_ip as string | undefined,
      published: d.published === undefined ? undefined : String(d.published),
      target: String(d.target),
    };
  });
}

function healthcheckTest(service: Dict): string {
  const test = asDict(service.healthcheck, 'healthcheck').test;
  return Array.isArray(test) ? test.join(' ') : String(test);
}

// --- Dockerfile helpers -----------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
}

const dockerfileText = readFileSync(path.join(root, 'Dockerfile'), 'utf8');

/** Instructions with line continuations joined and comments dropped. */
const instructions: Instruction[] = dockerfileText
  .split(/\r?\n/)
  .filter((line) => !/^\s*#/.test(line))
  .join('\n')
  .replace(/\\[ \t]*\r?\n/g, ' ')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line.length > 0)
  .map((line) => {
    const m = /^(\S+)\s*(.*)$/.exec(line)!;
    return { keyword: m[1].toUpperCase(), args: m[2] };
  });

/** Instructions grouped per stage; each group starts with its FROM. */
const stages: Instruction[][] = instructions.reduce<Instruction[][]>((acc, ins) => {
  if (ins.keyword === 'FROM') acc.push([ins]);
  else if (acc.length > 0) acc[acc.length - 1].push(ins);
  return acc;
}, []);
const finalStage = stages[stages.length - 1] ?? [];

interface Copy {
  from?: string;
  sources: string[];
}

function parseCopy(args: string): Copy {
  let rest = args.trim();
  let from: string | undefined;
  // Flags (--from, --chown, --chmod, --link, ...) come first.
  for (let m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest); m; m = /^--([a-z-]+)(?:=(\S+))?\s+/.exec(rest)) {
    if (m[1] === 'from') from = m[2];
    rest = rest.slice(m[0].length);
  }
  const words: string[] = rest.startsWith('[') ? (JSON.parse(rest) as string[]) : rest.split(/\s+/);
  return { from, sources: words.slice(0, -1) };
}

const copies = (stage: Instruction[]): Copy[] =>
  stage.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD').map((i) => parseCopy(i.args));

/** True when a COPY source (possibly a single-segment glob) names something in the repo. */
function existsInRepo(source: string): boolean {
  const rel = source.replace(/^\.\//, '');
  if (!/[*?]/.test(rel)) return existsSync(path.join(root, rel));
  const dir = path.join(root, path.dirname(rel));
  const pattern = new RegExp(
    '^' +
      path
        .basename(rel)
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*')
        .replace(/\?/g, '.') +
      '$',
  );
  return existsSync(dir) && readdirSync(dir).some((name) => pattern.test(name));
}

// --- deploy/nginx.conf helpers ---------------------------------------------

interface Directive {
  name: string;
  args: string[];
  /** The `{ ... }` of a block directive (http, server, location, map, upstream, ...). */
  block?: Directive[];
}

/** The directives of an nginx configuration: words, quoted strings, `;`, `{ }`; `#` starts a comment only where a word would. */
function parseNginx(text: string): Directive[] {
  type Token = { value: string; punct: boolean };
  const tokens: Token[] = [];
  const re = /\s+|#[^\n]*|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|([{};])|([^\s{};"']+)/y;
  for (let pos = 0; pos < text.length; pos = re.lastIndex) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) throw new Error(`nginx.conf: cannot read at offset ${pos}`);
    if (m[1] !== undefined || m[2] !== undefined) {
      tokens.push({ value: (m[1] ?? m[2]).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c)), punct: false });
    } else if (m[3] !== undefined) tokens.push({ value: m[3], punct: true });
    else if (m[4] !== undefined) tokens.push({ value: m[4], punct: false });
  }
  let i = 0;
  const readBlock = (nested: boolean): Directive[] => {
    const out: Directive[] = [];
    while (i < tokens.length) {
      if (tokens[i].punct && tokens[i].value === '}') {
        if (!nested) throw new Error('nginx.conf: unbalanced }');
        i++;
        return out;
      }
      const words: string[] = [];
      while (i < tokens.length && !tokens[i].punct) words.push(tokens[i++].value);
      const end = tokens[i++];
      if (words.length === 0 || end === undefined) throw new Error(`nginx.conf: directive without name or end near ${words.join(' ')}`);
      if (end.value === ';') out.push({ name: words[0], args: words.slice(1) });
      else if (end.value === '{') out.push({ name: words[0], args: words.slice(1), block: readBlock(true) });
      else throw new Error(`nginx.conf: unexpected } after ${words.join(' ')}`);
    }
    if (nested) throw new Error('nginx.conf: unclosed {');
    return out;
  };
  return readBlock(false);
}

const all = (block: Directive[] | undefined, name: string): Directive[] => (block ?? []).filter((d) => d.name === name);

/**
 * The directives `name` in force in a context, innermost first in `chain` (location, server, http):
 * nginx takes them from the innermost level that has any, and inherits nothing else (so a location with
 * one proxy_set_header drops every proxy_set_header of its server).
 */
function inForce(chain: Directive[][], name: string): Directive[] {
  for (const level of chain) {
    const found = all(level, name);
    if (found.length > 0) return found;
  }
  return [];
}

/** nginx time (`3600`, `3600s`, `60m`, `1h`, `1h30m`, `500ms`) in seconds. */
function nginxSeconds(value: string): number {
  const units: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 };
  if (/^\d+$/.test(value)) return Number(value);
  const parts = [...value.matchAll(/(\d+)(ms|[smhdwMy])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`not an nginx time: ${value}`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0);
}

/** nginx size (`8388608`, `8k`, `8m`, `1g`, either case) in bytes. */
function nginxBytes(value: string): number {
  const m = /^(\d+)([kKmMgG]?)$/.exec(value);
  if (!m) throw new Error(`not an nginx size: ${value}`);
  return Number(m[1]) * ({ '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[m[2].toLowerCase()];
}

const nginxConfPath = path.join(root, 'deploy', 'nginx.conf');
const nginxConf: Directive[] = existsSync(nginxConfPath) ? parseNginx(readFileSync(nginxConfPath, 'utf8')) : [];
/** Mounted over the image's nginx.conf the file has its own `http`; mounted into conf.d it is inside one. */
const nginxHttp: Directive[] = all(nginxConf, 'http')[0]?.block ?? nginxConf;
const nginxServers: Directive[][] = all(nginxHttp, 'server').map((d) => d.block ?? []);

interface Location {
  /** `=`, `^~`, `~`, `~*` or `` (prefix). */
  modifier: string;
  path: string;
  /** The location, its server, the http level: for inForce. */
  chain: Directive[][];
}

const nginxLocations: Location[] = nginxServers.flatMap((server) =>
  all(server, 'location').map((d) => ({
    modifier: d.args.length > 1 ? d.args[0] : '',
    path: d.args[d.args.length - 1],
    chain: [d.block ?? [], server, nginxHttp],
  })),
);

/** The location that a request for `uri` ends up in (exact, then longest prefix; regex locations are not used here). */
function locationFor(uri: string): Location | undefined {
  const exact = nginxLocations.find((l) => l.modifier === '=' && l.path === uri);
  if (exact) return exact;
  return nginxLocations
    .filter((l) => (l.modifier === '' || l.modifier === '^~') && uri.startsWith(l.path))
    .sort((a, b) => b.path.length - a.path.length)[0];
}

/** The proxy_set_header fields in force: lower-cased name → value. */
function proxyHeaders(location: Location): Record<string, string> {
  return Object.fromEntries(inForce(location.chain, 'proxy_set_header').map((d) => [d.args[0].toLowerCase(), d.args[1] ?? '']));
}

/** `$name` replaced by the value of a `set $name value` in force at the location. */
function expandVariables(value: string, location: Location): string {
  return value.replace(/\$(\w+)/g, (whole, name: string) => {
    for (const level of location.chain) {
      const set = all(level, 'set').find((d) => d.args[0] === `$${name}`);
      if (set) return set.args[1];
    }
    throw new Error(`${whole} is not set where proxy_pass uses it`);
  });
}

/** The `map $source $name { ... }` block defining `$name`. */
function mapDefining(variable: string): Directive | undefined {
  return all(nginxHttp, 'map').find((d) => d.args[1] === variable);
}

/** The port a `listen` directive names (`80`, `127.0.0.1:80`, `[::]:80 default_server`). */
function listenPort(listen: Directive): string {
  const address = listen.args[0];
  const m = /(?:^|:)(\d+)$/.exec(address);
  return m ? m[1] : '80';
}

// --- docker-compose.yml -----------------------------------------------------

describe('docker-compose.yml', () => {
  test('has no obsolete top-level version key', () => {
    expect(compose).not.toHaveProperty('version');
  });

  describe('postgres service', () => {
    test('runs a pinned postgres image', () => {
      expect(typeof postgres.image).toBe('string');
      expect(postgres.image).toMatch(/^postgres:\d+/);
    });

    test('declares a healthcheck that runs pg_isready', () => {
      expect(healthcheckTest(postgres)).toMatch(/pg_isready/);
    });

    test('when the healthcheck names a user and database, then they are the ones the service creates', () => {
      const env = envOf(postgres);
      const check = healthcheckTest(postgres);
      const user = /-U\s+(\S+)/.exec(check)?.[1];
      const db = /-d\s+(\S+)/.exec(check)?.[1];
      if (user !== undefined) expect(user).toBe(env.POSTGRES_USER);
      if (db !== undefined) expect(db).toBe(env.POSTGRES_DB);
    });

    test('keeps its data in a named volume declared at top level', () => {
      const data = mountsOf(postgres).find((m) => m.target === '/var/lib/postgresql/data');
      expect(data).toBeDefined();
      expect(data!.source).toBeTruthy();
      const topLevel = asDict(compose.volumes, 'volumes');
      expect(Object.keys(topLevel)).toContain(data!.source);
    });
  });

  describe('app service', () => {
    test('builds from the repository root', () => {
      const build = app.build;
      const context = typeof build === 'string' ? build : asDict(build, 'build').context;
      expect(context).toBe('.');
      const dockerfile = typeof build === 'string' ? undefined : asDict(build, 'build').dockerfile;
      expect(existsSync(path.join(root, String(dockerfile ?? 'Dockerfile')))).toBe(true);
    });

    test('when DATABASE_URL is parsed, then it points at the postgres service with its credentials and database', () => {
      const url = new URL(envOf(app).DATABASE_URL);
      const pg = envOf(postgres);
      expect(url.protocol).toMatch(/^postgres(ql)?:$/);
      expect(url.hostname).toBe('postgres');
      expect(url.port === '' || url.port === '5432').toBe(true);
      expect(decodeURIComponent(url.username)).toBe(pg.POSTGRES_USER);
      expect(decodeURIComponent(url.password)).toBe(pg.POSTGRES_PASSWORD);
      expect(url.pathname.replace(/^\//, '')).toBe(pg.POSTGRES_DB);
    });

    test('listens on all interfaces inside the container', () => {
      expect(envOf(app).HOST).toBe('0.0.0.0');
    });

    test('waits for postgres to be healthy before starting', () => {
      const dependsOn = asDict(app.depends_on, 'app.depends_on');
      expect(asDict(dependsOn.postgres, 'depends_on.postgres').condition).toBe('service_healthy');
    });

    test('publishes port 8765 on 127.0.0.1 only', () => {
      const ports = portsOf(app);
      const api = ports.filter((p) => p.target === '8765');
      expect(api.length).toBeGreaterThan(0);
      for (const p of api) {
        expect(p.hostIp).toBe('127.0.0.1');
        expect(p.published).toBe('8765');
      }
      // Nothing at all is published on every interface.
      for (const p of ports) expect(p.hostIp).toBe('127.0.0.1');
    });
  });

  describe('profiles', () => {
    test('when no profile is given, then only postgres and app start, as before', () => {
      const always = Object.entries(services)
        .filter(([, service]) => profilesOf(asDict(service, 'service')).length === 0)
        .map(([name]) => name);
      expect(always.sort()).toEqual(['app', 'postgres']);
    });

    test(`the replicas and the load balancer start with --profile ${SCALED} only`, () => {
      expect(profilesOf(replica)).toEqual([SCALED]);
      expect(profilesOf(lb)).toEqual([SCALED]);
    });

    test('nothing at all is published on every interface', () => {
      for (const [name, service] of Object.entries(services)) {
        for (const p of portsOf(asDict(service, name))) expect({ name, hostIp: p.hostIp }).toEqual({ name, hostIp: '127.0.0.1' });
      }
    });
  });

  describe(`${REPLICA} service (profile ${SCALED})`, () => {
    test('runs the same build as app', () => {
      expect(replica.build).toEqual(app.build);
      expect(replica.image).toEqual(app.image);
    });

    test('connects to the same database as app and listens the same way', () => {
      const env = envOf(replica);
      expect(env.DATABASE_URL).toBeTruthy();
      expect(env.DATABASE_URL).toBe(envOf(app).DATABASE_URL);
      expect(env.HOST).toBe('0.0.0.0');
      expect(env.PORT ?? '8765').toBe(envOf(app).PORT ?? '8765');
    });

    test('waits for postgres to be healthy, as app does', () => {
      expect(dependenciesOf(replica).postgres).toBe('service_healthy');
      expect(dependenciesOf(replica)).toEqual(dependenciesOf(app));
    });

    test('publishes no port and has no fixed container name, so it can be scaled', () => {
      expect(portsOf(replica)).toEqual([]);
      expect(replica).not.toHaveProperty('container_name');
    });

    test('runs several replicas by default', () => {
      const replicas = Number(asDict(replica.deploy, `${REPLICA}.deploy`).replicas ?? replica.scale);
      expect(replicas).toBeGreaterThanOrEqual(2);
    });

    test('stops gracefully like app', () => {
      expect(replica.init).toBe(true);
      expect(replica.stop_grace_period).toEqual(app.stop_grace_period);
    });
  });

  describe(`${LB} service (profile ${SCALED})`, () => {
    const confMount = () =>
      mountsOf(lb).find((m) => m.source !== undefined && path.resolve(root, m.source) === nginxConfPath);

    test('runs a pinned nginx image', () => {
      expect(lb.image).toMatch(/^nginx:\d+\.\d+/);
    });

    test('mounts deploy/nginx.conf read-only as its configuration', () => {
      expect(existsSync(nginxConfPath)).toBe(true);
      const mount = confMount();
      expect(mount).toBeDefined();
      expect(mount!.readOnly).toBe(true);
      expect(mount!.target).toMatch(/^\/etc\/nginx\/(nginx\.conf|conf\.d\/[\w.-]+\.conf)$/);
    });

    test('when the configuration replaces nginx.conf, then it is a whole one; in conf.d, then it has no http block', () => {
      const whole = confMount()?.target === '/etc/nginx/nginx.conf';
      expect(all(nginxConf, 'http').length).toBe(whole ? 1 : 0);
      expect(all(nginxConf, 'events').length).toBe(whole ? 1 : 0);
      expect(nginxServers.length).toBeGreaterThan(0);
    });

    test(`depends on the ${REPLICA} service`, () => {
      expect(Object.keys(dependenciesOf(lb))).toContain(REPLICA);
    });

    test(`when it waits for the ${REPLICA}s to be healthy, then they have a healthcheck`, () => {
      if (dependenciesOf(lb)[REPLICA] !== 'service_healthy') return;
      // Compose refuses service_healthy on a service without one; the image's HEALTHCHECK counts.
      const own = replica.healthcheck !== undefined && asDict(replica.healthcheck, 'healthcheck').disable !== true;
      expect(own || finalStage.some((i) => i.keyword === 'HEALTHCHECK' && !/^NONE\b/i.test(i.args))).toBe(true);
    });

    test('publishes on 127.0.0.1 only, on a port other than the ones app publishes, to the port nginx listens on', () => {
      const ports = portsOf(lb);
      expect(ports.length).toBeGreaterThan(0);
      const appPorts = portsOf(app).map((p) => p.published);
      const listening = nginxServers.flatMap((server) => all(server, 'listen').map(listenPort));
      for (const p of ports) {
        expect(p.hostIp).toBe('127.0.0.1');
        expect(p.published).toBeDefined();
        // Both run under --profile scaled: one host port cannot be published twice.
        expect(appPorts).not.toContain(p.published);
        expect(listening).toContain(p.target);
      }
    });

    test('when it has a healthcheck, then the check asks a path that nginx answers itself with 200', () => {
      if (lb.healthcheck === undefined) return;
      const url = /https?:\/\/(?:127\.0\.0\.1|localhost)(?::\d+)?(\/\S*)/.exec(healthcheckTest(lb));
      expect(url).not.toBeNull();
      const location = locationFor(url![1]);
      expect(location).toBeDefined();
      expect(all(location!.chain[0], 'return').map((d) => d.args[0])).toEqual(['200']);
    });
  });
});

// --- deploy/nginx.conf ------------------------------------------------------

describe('deploy/nginx.conf', () => {
  /** Every location that proxies to the replicas. */
  const proxying = () => nginxLocations.filter((l) => all(l.chain[0], 'proxy_pass').length > 0);
  const ws = () => {
    const location = locationFor('/ws');
    if (!location) throw new Error('no location serves /ws');
    return location;
  };

  test('serves REST and the WebSocket through proxying locations', () => {
    expect(all(ws().chain[0], 'proxy_pass').length).toBe(1);
    expect(all(locationFor('/sessions')?.chain[0], 'proxy_pass').length).toBe(1);
  });

  test(`when the proxied host name is resolved, then it is the ${REPLICA} service on its port`, () => {
    expect(proxying().length).toBeGreaterThan(0);
    for (const location of proxying()) {
      const url = new URL(expandVariables(all(location.chain[0], 'proxy_pass')[0].args[0], location));
      const upstream = all(nginxHttp, 'upstream').find((u) => u.args[0] === url.hostname);
      const targets = upstream
        ? all(upstream.block, 'server').map((d) => new URL(`http://${d.args[0]}`))
        : [url];
      expect(targets.length).toBeGreaterThan(0);
      for (const target of targets) {
        expect(target.hostname).toBe(REPLICA);
        expect(target.port || '80').toBe(envOf(replica).PORT ?? '8765');
      }
    }
  });

  test("when replicas are scaled, then nginx re-resolves them through Docker's DNS", () => {
    const resolvers = inForce([nginxHttp], 'resolver').flatMap((d) => d.args);
    expect(resolvers).toContain('127.0.0.11');
    for (const location of proxying()) {
      const target = all(location.chain[0], 'proxy_pass')[0].args[0];
      const upstream = all(nginxHttp, 'upstream').find((u) => u.args[0] === new URL(expandVariables(target, location)).hostname);
      // A literal name is resolved once at start; a variable (or `server ... resolve`) at run time.
      if (upstream) expect(all(upstream.block, 'server').every((d) => d.args.includes('resolve'))).toBe(true);
      else expect(target).toMatch(/\$/);
    }
  });

  test('when a client upgrades /ws, then nginx speaks HTTP/1.1 and passes Upgrade and Connection on', () => {
    const location = ws();
    expect(inForce(location.chain, 'proxy_http_version')[0]?.args).toEqual(['1.1']);
    const headers = proxyHeaders(location);
    expect(headers.upgrade).toBe('$http_upgrade');
    const connection = headers.connection ?? '';
    if (connection.startsWith('$')) {
      const map = mapDefining(connection);
      expect(map?.args[0]).toBe('$http_upgrade');
      expect(all(map!.block, 'default')[0]?.args).toEqual(['upgrade']);
    } else {
      expect(connection.toLowerCase()).toBe('upgrade');
    }
  });

  test('when a feed is quiet, then nginx keeps it open for at least an hour and does not buffer it', () => {
    const location = ws();
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const value = inForce(location.chain, name)[0]?.args[0] ?? '60s';
      expect({ name, seconds: nginxSeconds(value) >= 3600 }).toEqual({ name, seconds: true });
    }
    expect(inForce(location.chain, 'proxy_buffering')[0]?.args).toEqual(['off']);
  });

  test('when a request is proxied, then the client address, scheme and a request id go along', () => {
    for (const location of proxying()) {
      const headers = proxyHeaders(location);
      expect({ path: location.path, xff: headers['x-forwarded-for'] }).toEqual({
        path: location.path,
        xff: '$proxy_add_x_forwarded_for',
      });
      expect(headers['x-forwarded-proto']).toBeTruthy();
      expect(headers['x-request-id']).toMatch(/^\$/);
    }
  });

  test("accepts every body the app accepts (MAX_BODY_BYTES, 8 MiB by default)", () => {
    const appLimit = Number(envOf(replica).MAX_BODY_BYTES ?? 8 * 1024 * 1024);
    for (const location of proxying()) {
      const value = inForce(location.chain, 'client_max_body_size')[0]?.args[0] ?? '1m';
      expect({ path: location.path, enough: nginxBytes(value) >= appLimit }).toEqual({ path: location.path, enough: true });
    }
  });

  test('when a replica fails, then a POST or PATCH already sent to it is not sent to another one', () => {
    for (const location of proxying()) {
      const next = inForce(location.chain, 'proxy_next_upstream').flatMap((d) => d.args);
      expect(next).not.toContain('non_idempotent');
    }
  });

  test('answers its own health check without a replica', () => {
    const location = locationFor('/lb-health');
    expect(location?.modifier).toBe('=');
    expect(all(location!.chain[0], 'proxy_pass')).toEqual([]);
    expect(all(location!.chain[0], 'return')[0]?.args[0]).toBe('200');
  });
});

// --- Dockerfile -------------------------------------------------------------

describe('Dockerfile', () => {
  test('is a multi-stage build', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
  });

  test('installs only production dependencies in the final stage', () => {
    const runs = finalStage.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /npm ci\b[^&;|]*--omit=dev/.test(r))).toBe(true);
  });

  test('runs as a non-root user', () => {
    const users = finalStage.filter((i) => i.keyword === 'USER').map((i) => i.args.split(':')[0]);
    expect(users.length).toBeGreaterThan(0);
    expect(['root', '0']).not.toContain(users[users.length - 1]);
  });

  test('starts the compiled server', () => {
    const cmd = finalStage.filter((i) => i.keyword === 'CMD').pop();
    expect(cmd).toBeDefined();
    const words: string[] = cmd!.args.startsWith('[') ? (JSON.parse(cmd!.args) as string[]) : cmd!.args.split(/\s+/);
    expect(words[0]).toBe('node');
    expect(words).toContain('dist/main.js');
  });

  test('when the final stage is built, then dist comes from an earlier stage', () => {
    const fromStages = copies(finalStage).filter((c) => c.from !== undefined);
    expect(fromStages.some((c) => c.sources.some((s) => /(^|\/)dist\/?$/.test(s)))).toBe(true);
  });

  test('when the final stage copies from the build context, then every source exists in the repository', () => {
    const sources = copies(finalStage)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources);
    // The runtime reads migrations from <app root>/migrations and installs from the lockfile.
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json']));
    expect(sources.some((s) => /^(\.\/)?migrations\/?$/.test(s))).toBe(true);
    for (const source of sources) {
      expect({ source, exists: existsInRepo(source) }).toEqual({ source, exists: true });
    }
  });

  test('when any stage copies from the build context, then .dockerignore does not exclude the source', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^\/|\/$/g, ''))
      .filter((l) => l.length > 0 && !l.startsWith('#') && !l.startsWith('!'));
    const sources = stages
      .flatMap(copies)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources.map((s) => s.replace(/^\.\//, '').replace(/\/$/, '')));
    for (const source of sources) {
      expect({ source, ignored: ignored.includes(source) }).toEqual({ source, ignored: false });
    }
  });
});
