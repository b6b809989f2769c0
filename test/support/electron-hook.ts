/**
 * A module resolution hook (node:module register) that sends the specifier 'electron' to the
 * recording stand-in (test/support/electron-stand-in.ts), so the real, compiled main/index.ts
 * runs under Node. Every other specifier resolves as usual.
 */
interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
  format?: string | null;
}
type NextResolve = (specifier: string, context: unknown) => Promise<ResolveResult>;

const standInUrl = new URL('./electron-stand-in.js', import.meta.url).href;

export async function resolve(specifier: string, context: unknown, nextResolve: NextResolve): Promise<ResolveResult> {
  if (specifier === 'electron') return { url: standInUrl, format: 'module', shortCircuit: true };
  return nextResolve(specifier, context);
}
