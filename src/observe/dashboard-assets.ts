import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
/** The page's own files are served from the sources (the build does not copy them), wherever this module runs from. */
const DASHBOARD_DIRS = [path.join(HERE, 'dashboard'), path.resolve(HERE, '..', '..', 'src', 'observe', 'dashboard')];
const require = createRequire(import.meta.url);

/** Every file the page may load: a fixed list, so no request names a path on disk. */
const ASSETS: Record<string, { readonly file: () => string; readonly type: string }> = {
  '/': { file: () => 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: () => 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: () => 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/uplot.min.js': { file: () => require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/uplot.min.css': { file: () => require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

export async function dashboardAsset(urlPath: string): Promise<{ body: Buffer; type: string } | undefined> {
  const asset = ASSETS[urlPath];
  if (!asset) return undefined;
  let body = cache.get(urlPath);
  if (!body) {
    body = await readAsset(asset.file());
    cache.set(urlPath, body);
  }
  return { body, type: asset.type };
}

async function readAsset(file: string): Promise<Buffer> {
  if (path.isAbsolute(file)) return readFile(file);
  for (const dir of DASHBOARD_DIRS) {
    try {
      return await readFile(path.join(dir, file));
    } catch {
      // Try the next place: the sources, when this runs from the build.
    }
  }
  throw new Error(`dashboard file ${file} is missing`);
}
