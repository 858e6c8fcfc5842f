import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const CLI_FILES = [
  'cli.ts',
  'claudeCode/spool.ts',
  'claudeCode/hookCommand.ts',
  'claudeCode/transcript.ts',
  'claudeCode/hookMain.ts',
  'claudeCode/settings.ts',
  'claudeCode/claudeSettings.ts',
  'claudeCode/doctor.ts',
];

/**
 * The CLI's bin and its modules, compiled alone into `outDir`/dist (no build of the whole project, and proof
 * that they need none of the server's code); returns the path of dist/cli.js.
 */
export function compileCli(root: string): string {
  const outDir = path.join(root, 'dist');
  for (const file of CLI_FILES) {
    const source = fs.readFileSync(path.join(__dirname, '..', '..', 'src', file), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } });
    fs.mkdirSync(path.dirname(path.join(outDir, file)), { recursive: true });
    fs.writeFileSync(path.join(outDir, file.replace(/\.ts$/, '.js')), outputText);
  }
  return path.join(outDir, 'cli.js');
}
