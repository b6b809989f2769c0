/**
 * The application menu. Electron's default menu offers Reload and Toggle Developer Tools to
 * anyone; ours has what a person needs (import, the window, edit shortcuts for the editor, zoom)
 * and the developer items only in development (an unpackaged app).
 *
 * macOS shows it in the menu bar (with the app menu first); on Windows and Linux the window hides
 * its menu bar until Alt is pressed (autoHideMenuBar), and the accelerators work either way.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface AppMenuOptions {
  platform: NodeJS.Platform;
  /** Unpackaged (npm start): reload and developer tools are offered. */
  development: boolean;
  onImport: () => void;
  onShowWindow: () => void;
}

export function applicationMenuTemplate(options: AppMenuOptions): MenuItemConstructorOptions[] {
  const mac = options.platform === 'darwin';
  const template: MenuItemConstructorOptions[] = [];
  if (mac) {
    template.push({
      label: 'Wirelane',
      submenu: [{ role: 'about' }, { type: 'separator' }, { role: 'hide' }, { role: 'hideOthers' }, { role: 'unhide' }, { type: 'separator' }, { role: 'quit' }],
    });
  }
  template.push({
    label: 'File',
    submenu: [
      // No accelerator: the window owns its shortcuts (Ctrl+O there keeps its unsaved-changes guard).
      { label: 'Import Tunnels from File…', click: () => options.onImport() },
      { label: 'Manage Tunnels', click: () => options.onShowWindow() },
      { type: 'separator' },
      { role: 'close' },
      ...(mac ? [] : [{ role: 'quit' } as const]),
    ],
  });
  template.push({
    label: 'Edit',
    submenu: [{ role: 'undo' }, { role: 'redo' }, { type: 'separator' }, { role: 'cut' }, { role: 'copy' }, { role: 'paste' }, { role: 'selectAll' }],
  });
  template.push({
    label: 'View',
    submenu: [
      ...(options.development ? [{ role: 'reload' } as const, { role: 'forceReload' } as const, { role: 'toggleDevTools' } as const, { type: 'separator' } as const] : []),
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
    ],
  });
  template.push({ role: 'windowMenu' });
  return template;
}

/** Every role in a template, submenus included (for tests and checks). */
export function rolesOf(template: readonly MenuItemConstructorOptions[]): string[] {
  return template.flatMap((item) => [
    ...(item.role ? [item.role] : []),
    ...(Array.isArray(item.submenu) ? rolesOf(item.submenu) : []),
  ]);
}
