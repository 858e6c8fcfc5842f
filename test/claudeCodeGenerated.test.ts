import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { httpHookSettings, HTTP_HOOK_EVENTS, HOOK_EVENTS, pluginHooks, telemetrySettings } from '../src/claudeCode/settings';

// The files generated from src/claudeCode (scripts/generate-claude-code.js) are committed: they must be
// what the code generates now. Nothing here needs a database.
const ROOT = path.join(__dirname, '..');
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const generator = require('../scripts/generate-claude-code.js') as { generatePluginFiles: () => Record<string, string> };

/** The JSON fenced between `<!-- GENERATED name … -->` and `<!-- END name -->`. */
function generatedBlock(document: string, name: string): unknown {
  const match = new RegExp(`<!-- GENERATED ${name}[^>]*-->\\n\`\`\`json\\n([\\s\\S]*?)\\n\`\`\`\\n<!-- END ${name} -->`).exec(document);
  if (!match) throw new Error(`no GENERATED ${name} block`);
  return JSON.parse(match[1]!);
}

describe('README.md', () => {
  const readme = read('README.md');

  it('shows the http-hook block the code generates: every event but SessionStart, each to the hooks route with the key', () => {
    const block = generatedBlock(readme, 'http-hooks');
    expect(block).toEqual(httpHookSettings());
    expect(Object.keys((block as { hooks: object }).hooks)).toEqual([...HTTP_HOOK_EVENTS]);
  });

  it('shows the telemetry block the code generates, and the plugin as the first way to connect', () => {
    expect(generatedBlock(readme, 'telemetry-env')).toEqual(telemetrySettings());
    const connect = readme.slice(readme.indexOf('## Connect Claude Code'));
    expect(connect.indexOf('/plugin install')).toBeGreaterThan(0);
    expect(connect.indexOf('/plugin install')).toBeLessThan(connect.indexOf('init-claude  '));
  });
});

describe('docs/claude-code-setup.md', () => {
  const document = read('docs/claude-code-setup.md');

  it('shows the telemetry block the code generates', () => {
    expect(generatedBlock(document, 'telemetry-env')).toEqual(telemetrySettings());
  });

  it.each(['README.md', 'docs/claude-code-setup.md'])('%s never sends anyone to npx, and names no word it must not', (file) => {
    const text = read(file);
    expect(text).not.toMatch(/npx agent-session-manager/);
    expect(text.toLowerCase()).not.toContain('observ' + 'ability');
  });
});

describe('the plugin', () => {
  it('holds what scripts/generate-claude-code.js generates: the hook script, hooks.json, the version', () => {
    const stale = Object.entries(generator.generatePluginFiles())
      .filter(([file, text]) => !fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text)
      .map(([file]) => path.relative(ROOT, file));
    expect({ stale, fix: 'npm run generate:claude-code' }).toEqual({ stale: [], fix: 'npm run generate:claude-code' });
  });

  it('registers every hook event for the script, by ${CLAUDE_PLUGIN_ROOT}, and follows the package version', () => {
    const hooks = JSON.parse(read('plugin/hooks/hooks.json'));
    expect(hooks).toEqual(pluginHooks());
    expect(Object.keys(hooks.hooks)).toEqual([...HOOK_EVENTS]);
    expect(JSON.parse(read('plugin/.claude-plugin/plugin.json')).version).toBe(JSON.parse(read('package.json')).version);
    const marketplace = JSON.parse(read('.claude-plugin/marketplace.json'));
    expect(marketplace.plugins).toEqual([expect.objectContaining({ name: 'agent-session-manager', source: './plugin' })]);
  });

  it('ships a script that needs nothing but Node: it runs from a folder of its own', () => {
    const alone = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'asm-script-'));
    try {
      fs.copyFileSync(path.join(ROOT, 'plugin', 'scripts', 'asm-hook.js'), path.join(alone, 'asm-hook.js'));
      const requires = [...read('plugin/scripts/asm-hook.js').matchAll(/require\(["']([^"']+)["']\)/g)].map((match) => match[1]!);
      expect(requires.filter((name) => !name.startsWith('node:') && !name.startsWith('./'))).toEqual([]);
      const run = spawnSync(process.execPath, [path.join(alone, 'asm-hook.js'), 'hook'], { input: '', env: { PATH: process.env.PATH, ASM_SPOOL_DIR: path.join(alone, 'spool') } });
      expect({ status: run.status, stdout: run.stdout.toString(), stderr: run.stderr.toString() }).toEqual({ status: 0, stdout: '', stderr: '' });
    } finally {
      fs.rmSync(alone, { recursive: true, force: true });
    }
  });
});
