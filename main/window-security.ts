/**
 * How the window is locked down. The renderer shows only our own bundled page: no Node, its own
 * isolated world, the Chromium sandbox, a CSP that allows scripts from the page's origin only,
 * no navigation, no new windows, no permission prompts, no network requests but local files.
 *
 * The values are plain so a unit test can check them; index.ts applies them.
 */

/** The Content-Security-Policy of the page (also set as a response header for file:// loads). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  // CodeMirror and uPlot set element styles from script; no remote stylesheet is allowed.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/**
 * The page's policy when `npm start` serves it to a local browser instead of Electron
 * (main/browser-host.ts): the same, except that it may connect to its own origin, the host,
 * which is how its `window.wirelane` reaches main's relay. No other origin is allowed.
 */
export const BROWSER_HOST_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace("connect-src 'none'", "connect-src 'self'");

/** webPreferences of the only window; developer tools only in development (an unpackaged app). */
export function secureWebPreferences(preloadPath: string, options: { development?: boolean } = {}) {
  return {
    preload: preloadPath,
    devTools: options.development === true,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
  } as const;
}

/** Whether a request the window makes may go out: only our own files (and devtools in development). */
export function isAllowedRequestUrl(url: string, appRootUrl: string, options: { development?: boolean } = {}): boolean {
  if (url.startsWith('devtools://')) return options.development === true;
  if (!url.startsWith('file://')) return false;
  try {
    return new URL(url).pathname.startsWith(new URL(appRootUrl).pathname);
  } catch {
    return false;
  }
}
