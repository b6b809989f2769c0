/**
 * The window's theme: following the system (prefers-color-scheme, live), or always light or
 * dark, as the app's settings say. The stylesheet keys every colour on html[data-theme];
 * nothing is redrawn by hand, so the graph and the editor follow at once.
 */
import type { AppTheme } from './contract.js';

const darkQuery = '(prefers-color-scheme: dark)';

/** Applies a theme; returns how to stop following the system (for "system"). */
export function applyTheme(theme: AppTheme): () => void {
  const root = document.documentElement;
  root.dataset['theme'] = theme === 'system' ? 'light' : theme;
  root.dataset['themeSetting'] = theme;
  if (theme !== 'system' || typeof window.matchMedia !== 'function') return () => {};
  const query = window.matchMedia(darkQuery);
  const follow = () => {
    root.dataset['theme'] = query.matches ? 'dark' : 'light';
  };
  follow();
  query.addEventListener('change', follow);
  return () => query.removeEventListener('change', follow);
}
