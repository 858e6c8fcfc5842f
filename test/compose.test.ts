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

const compose = asDict(parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8')), 'docker-compose.yml');
const services = asDict(compose.services, 'services');
const postgres = asDict(services.postgres, 'services.postgres');
const app = asDict(services.app, 'services.app');

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
}

/** Both the short `source:target[:mode]` and the long form of `volumes`. */
function mountsOf(service: Dict): Mount[] {
  const volumes = (service.volumes ?? []) as unknown[];
  return volumes.map((v) => {
    if (typeof v === 'string') {
      const parts = v.split(':');
      return parts.length === 1 ? { target: parts[0] } : { source: parts[0], target: parts[1] };
    }
    const d = asDict(v, 'volume');
    return { source: d.source as string | undefined, target: String(d.target) };
  });
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
