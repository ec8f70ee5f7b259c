// `npm run build`: the command line as one bundle (plus lazily loaded chunks),
// because Node 20 spends about a third of a second resolving and compiling the
// ES modules of ~230 source files and their dependencies one by one; one file
// starts in about half that. Type checking is `npm run typecheck`.
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist');

/**
 * pg asks whether it runs in a Cloudflare Worker by constructing a fetch
 * Response, which on Node 20 (no global navigator) loads Node's whole fetch
 * implementation: 40-50 ms of every start. Ferry runs on Node only.
 */
const pgOnNode = {
  name: 'pg-on-node',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const check = 'function isCloudflareRuntime() {';
      if (!source.includes(check)) throw new Error(`${args.path} no longer defines isCloudflareRuntime(): review the pg-on-node plugin`);
      return { contents: source.replace(check, `${check}\n  return false;`), loader: 'js' };
    });
  },
};

await rm(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outdir,
  entryNames: 'cli/[name]',
  // MySQL's driver and decoder, the demo: loaded by dynamic import only where needed.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  // The bundled CommonJS dependencies (pg, pino, …) call require() for Node's own modules.
  banner: { js: "import { createRequire as ferryCreateRequire } from 'node:module'; const require = ferryCreateRequire(import.meta.url);" },
  plugins: [pgOnNode],
  logLevel: 'warning',
});
