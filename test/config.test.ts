import { loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('defaults to port 8765 on both loopback addresses, an embedded database under ./.data', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 8765, hosts: ['127.0.0.1', '::1'], databaseUrl: undefined, logLevel: 'info', maxBodyBytes: 8388608 });
    expect(config.dataDir).toBe(`${process.cwd()}/.data`);
    expect(config.corsOrigins).toContain('http://localhost:5173');
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '9000',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://u@h/d',
      DATA_DIR: '/tmp/asm',
      CORS_ORIGINS: 'https://a.example, *',
      LOG_LEVEL: 'warn',
      MAX_BODY_BYTES: '1024',
    });
    expect(config).toMatchObject({
      port: 9000,
      hosts: ['0.0.0.0'],
      databaseUrl: 'postgres://u@h/d',
      dataDir: '/tmp/asm',
      corsOrigins: ['https://a.example', '*'],
      logLevel: 'warn',
      maxBodyBytes: 1024,
    });
  });

  it('answers to the loopback names, the bound HOST unless it means every interface, and ALLOWED_HOSTS', () => {
    expect(loadConfig({}).allowedHosts).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(loadConfig({ HOST: '0.0.0.0' }).allowedHosts).toEqual(['localhost', '127.0.0.1', '::1']);
    expect(loadConfig({ HOST: 'devbox.lan', ALLOWED_HOSTS: 'asm.example.com, 10.0.0.5' }).allowedHosts).toEqual([
      'localhost',
      '127.0.0.1',
      '::1',
      'devbox.lan',
      'asm.example.com',
      '10.0.0.5',
    ]);
  });

  it('DEBUG_LOGGING=true still turns on debug logs', () => {
    expect(loadConfig({ DEBUG_LOGGING: 'true' }).logLevel).toBe('debug');
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['MAX_BODY_BYTES', '0'],
    ['LOG_LEVEL', 'loud'],
  ])('refuses %s=%s, naming the variable', (key, value) => {
    expect(() => loadConfig({ [key]: value })).toThrow(key);
  });
});
