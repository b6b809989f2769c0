/**
 * Turns what a person hands us (picked or dropped files, a pasted text) into named .conf texts
 * for the helper's `import`. A .zip is opened with fflate and every .conf inside it taken; other
 * files are reported, not guessed at. Pure and free of Node and DOM, so the tray's import (main)
 * and the window's drag-and-drop (renderer) share it.
 */
import { unzipSync } from 'fflate';
import { TUNNEL_NAME_PATTERN } from '../helper/protocol.js';

export interface ImportCandidate {
  /** Where it came from, for messages: "office.conf" or "all.zip/office.conf". */
  source: string;
  name: string;
  confText: string;
}

export interface ImportBundle {
  candidates: ImportCandidate[];
  /** One sentence per file that could not be used. */
  skipped: string[];
}

/** A zip bigger than this (uncompressed) is refused: configurations are small. */
export const MAX_UNZIPPED_BYTES = 16 * 1024 * 1024;

/** The tunnel name a file suggests: its base name without .conf, when that is a valid name. */
export function tunnelNameFromFileName(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  return base.replace(/\.conf$/i, '');
}

/** Image types a QR code may come in (read by the window, which can decode images). */
export const QR_IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp'] as const;

export function isQrImageFileName(fileName: string): boolean {
  const extension = /\.([^.]+)$/.exec(fileName)?.[1]?.toLowerCase();
  return extension !== undefined && (QR_IMAGE_EXTENSIONS as readonly string[]).includes(extension);
}

export function isValidTunnelName(name: string): boolean {
  return TUNNEL_NAME_PATTERN.test(name) && name !== '.' && name !== '..';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeText(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes).replace(/^\uFEFF/, '');
  } catch {
    return null;
  }
}

export function readImportFiles(files: readonly { fileName: string; bytes: Uint8Array }[]): ImportBundle {
  const bundle: ImportBundle = { candidates: [], skipped: [] };
  for (const file of files) {
    const lower = file.fileName.toLowerCase();
    if (lower.endsWith('.zip')) {
      addZip(bundle, file.fileName, file.bytes);
    } else if (lower.endsWith('.conf')) {
      addConf(bundle, file.fileName, file.fileName, file.bytes);
    } else {
      bundle.skipped.push(`${file.fileName}: not a .conf or .zip file`);
    }
  }
  return bundle;
}

function addConf(bundle: ImportBundle, source: string, fileName: string, bytes: Uint8Array): void {
  const text = decodeText(bytes);
  if (text === null) {
    bundle.skipped.push(`${source}: not UTF-8 text`);
    return;
  }
  bundle.candidates.push({ source, name: tunnelNameFromFileName(fileName), confText: text });
}

function addZip(bundle: ImportBundle, zipName: string, bytes: Uint8Array): void {
  let total = 0;
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (entry) => {
        if (entry.name.endsWith('/') || !entry.name.toLowerCase().endsWith('.conf')) return false;
        total += entry.originalSize;
        return total <= MAX_UNZIPPED_BYTES;
      },
    });
  } catch (error) {
    bundle.skipped.push(`${zipName}: not a readable zip (${error instanceof Error ? error.message : String(error)})`);
    return;
  }
  if (total > MAX_UNZIPPED_BYTES) {
    bundle.skipped.push(`${zipName}: over ${MAX_UNZIPPED_BYTES / 1024 / 1024} MiB unpacked`);
    return;
  }
  const names = Object.keys(entries).sort();
  if (names.length === 0) bundle.skipped.push(`${zipName}: holds no .conf file`);
  for (const entryName of names) {
    addConf(bundle, `${zipName}/${entryName}`, entryName, entries[entryName] ?? new Uint8Array());
  }
}
