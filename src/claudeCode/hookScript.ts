import { hookProcessMain } from './hookMain';

/**
 * The entry of plugin/scripts/asm-hook.js, the hook script the Claude Code plugin ships: one file, Node
 * builtins only, generated from this folder by scripts/generate-claude-code.js (`npm run generate:claude-code`).
 * `node asm-hook.js [hook]` reads a hook on stdin; `flush [--retry-dead]` sends the spool now.
 */
hookProcessMain(__filename, process.argv.slice(2));
