/**
 * Import from whatever the person handed over — picked files, dropped files (.conf, .zip, a QR
 * image), pasted text — one helper `import` per configuration, with a per-file outcome.
 */
import type { ConfProblem, PickedFile, WirelaneApi } from './contract.js';
import jsQR from 'jsqr';
import { readImportFiles, tunnelNameFromFileName, type ImportCandidate } from '../../engine/conf/import-bundle.js';

export type ImportOutcome =
  | { source: string; name: string; ok: true }
  | { source: string; name: string; ok: false; message: string; confText: string; problems: ConfProblem[] };

const imageFile = /\.(png|jpe?g|gif|webp|bmp)$/i;

/** A file that may hold a QR code: by its type (a pasted image has a generic name) or its name. */
export function isImageFile(file: File): boolean {
  return file.type.startsWith('image/') || imageFile.test(file.name);
}

/** Reads a QR code out of an image; null when there is none. */
export async function decodeQrImage(bytes: Uint8Array): Promise<string | null> {
  const bitmap = await createImageBitmap(new Blob([bytes as BlobPart]));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d');
  if (!context) return null;
  context.drawImage(bitmap, 0, 0);
  const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height);
  return jsQR(pixels.data, pixels.width, pixels.height)?.data ?? null;
}

export async function filesToCandidates(files: readonly PickedFile[]): Promise<{ candidates: ImportCandidate[]; skipped: string[] }> {
  const images = files.filter((f) => imageFile.test(f.fileName));
  const bundle = readImportFiles(files.filter((f) => !imageFile.test(f.fileName)));
  for (const image of images) {
    try {
      const text = await decodeQrImage(image.bytes);
      if (text && /\[Interface\]/i.test(text)) {
        bundle.candidates.push({ source: image.fileName, name: tunnelNameFromFileName(image.fileName.replace(imageFile, '')), confText: text });
      } else {
        bundle.skipped.push(`${image.fileName}: no WireGuard QR code found`);
      }
    } catch {
      bundle.skipped.push(`${image.fileName}: not a readable image`);
    }
  }
  return bundle;
}

export async function importCandidates(wirelane: WirelaneApi, candidates: readonly ImportCandidate[]): Promise<ImportOutcome[]> {
  const outcomes: ImportOutcome[] = [];
  for (const candidate of candidates) {
    const result = await wirelane.importTunnel(candidate.name, candidate.confText);
    if (result.ok) {
      outcomes.push({ source: candidate.source, name: result.value.name, ok: true });
    } else {
      outcomes.push({
        source: candidate.source,
        name: candidate.name,
        ok: false,
        message: result.error.message,
        confText: candidate.confText,
        problems: result.error.problems ?? [],
      });
    }
  }
  return outcomes;
}

export async function fileListToPicked(list: FileList | readonly File[]): Promise<PickedFile[]> {
  return Promise.all(
    Array.from(list).map(async (file) => {
      // A pasted image is often called "image.png" or has no name at all: name it for its type.
      const name = file.name && imageFile.test(file.name) ? file.name : file.type.startsWith('image/') ? `pasted-qr.${file.type.slice(6).replace('jpeg', 'jpg')}` : file.name;
      return { fileName: name, bytes: new Uint8Array(await file.arrayBuffer()) };
    }),
  );
}
