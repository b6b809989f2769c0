/**
 * Draws the tray icons (build/tray/*.png) from shapes, so they can be changed in one place and
 * checked by a test (test/unit/main-tray-icons.test.ts renders them again and compares pixels).
 * Run `npm run icons` after changing a shape or colour.
 *
 * Every icon is a shield, the usual mark of a VPN, with the state inside it:
 *   connected     filled, with a check mark          (green)
 *   connecting    filled, with three dots            (blue)
 *   reconnecting  filled, with three dots            (amber)
 *   failed        filled, with a cross               (red)
 *   helper-down   filled, with an exclamation mark   (grey)
 *   disconnected  outline only                       (grey)
 * The colours sit at middle luminance, so the shield keeps at least 3:1 contrast against a light
 * panel and a dark one alike, and the white sign inside keeps 3:1 against the fill.
 *
 * macOS template images ("Template" in the name) are black and alpha only, as macOS requires, so it
 * can tint them for a light or dark menu bar; without colour the states differ by shape:
 * the signs are cut out of a filled shield for connected and reconnecting (a tunnel that is or was
 * up) and drawn inside an outline for connecting, failed and helper-down.
 *
 * Sizes: 16x16 and 32x32 (@2x), drawn from the same 16-unit geometry with 8x8 samples a pixel.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

export type TrayIconName = 'connected' | 'connecting' | 'reconnecting' | 'failed' | 'helper-down' | 'disconnected';
export const TRAY_ICON_NAMES: readonly TrayIconName[] = ['connected', 'connecting', 'reconnecting', 'failed', 'helper-down', 'disconnected'];

type Point = readonly [number, number];
type Rgb = readonly [number, number, number];

/** A shape as a coverage test of one point (in the 16-unit space). */
type Shape = (x: number, y: number) => boolean;

/** The state colours (sRGB). */
export const TRAY_COLOURS: Record<TrayIconName, Rgb> = {
  connected: [0x2e, 0x9e, 0x4f],
  connecting: [0x2f, 0x74, 0xd0],
  reconnecting: [0xc2, 0x78, 0x00],
  failed: [0xd9, 0x36, 0x36],
  'helper-down': [0x7d, 0x7d, 0x7d],
  disconnected: [0x7d, 0x7d, 0x7d],
};

// --- geometry --------------------------------------------------------------------------------

function quadratic(from: Point, control: Point, to: Point, steps: number): Point[] {
  const points: Point[] = [];
  for (let i = 1; i <= steps; i++) {
    const t = i / steps;
    const u = 1 - t;
    points.push([u * u * from[0] + 2 * u * t * control[0] + t * t * to[0], u * u * from[1] + 2 * u * t * control[1] + t * t * to[1]]);
  }
  return points;
}

/** The shield's outline: shoulders, a raised middle on top, straight sides, a rounded point below. */
const SHIELD: Point[] = (() => {
  const left = 2.2;
  const right = 13.8;
  const points: Point[] = [
    [left, 3.2],
    [8, 1],
    [right, 3.2],
    [right, 7.6],
  ];
  points.push(...quadratic([right, 7.6], [right, 12.6], [8, 15.2], 10));
  points.push(...quadratic([8, 15.2], [left, 12.6], [left, 7.6], 10));
  return points;
})();

function insidePolygon(polygon: readonly Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function distanceToSegment(x: number, y: number, a: Point, b: Point): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const t = Math.max(0, Math.min(1, ((x - a[0]) * dx + (y - a[1]) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(x - (a[0] + t * dx), y - (a[1] + t * dy));
}

function distanceToOutline(polygon: readonly Point[], x: number, y: number): number {
  let best = Infinity;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) best = Math.min(best, distanceToSegment(x, y, polygon[j]!, polygon[i]!));
  return best;
}

const shieldFill: Shape = (x, y) => insidePolygon(SHIELD, x, y);
/** A band of `width` along the inside of the shield's edge. */
const shieldRim = (width: number): Shape => (x, y) => insidePolygon(SHIELD, x, y) && distanceToOutline(SHIELD, x, y) <= width;
const stroke = (width: number, ...points: Point[]): Shape => (x, y) => {
  for (let i = 1; i < points.length; i++) if (distanceToSegment(x, y, points[i - 1]!, points[i]!) <= width / 2) return true;
  return false;
};
const disc = (cx: number, cy: number, r: number): Shape => (x, y) => Math.hypot(x - cx, y - cy) <= r;
const union = (...shapes: Shape[]): Shape => (x, y) => shapes.some((shape) => shape(x, y));

/** The sign inside each shield (none for disconnected). */
const SIGNS: Record<TrayIconName, Shape | null> = {
  connected: stroke(1.9, [4.9, 8.1], [7.1, 10.4], [11.2, 5.6]),
  connecting: union(disc(5, 7.6, 1.15), disc(8, 7.6, 1.15), disc(11, 7.6, 1.15)),
  reconnecting: union(disc(5, 7.6, 1.15), disc(8, 7.6, 1.15), disc(11, 7.6, 1.15)),
  failed: union(stroke(1.8, [5.8, 5.4], [10.2, 9.8]), stroke(1.8, [10.2, 5.4], [5.8, 9.8])),
  'helper-down': union(stroke(1.9, [8, 4.3], [8, 8.4]), disc(8, 11, 1.1)),
  disconnected: null,
};

// --- raster -------------------------------------------------------------------------------------

export interface Raster {
  width: number;
  height: number;
  /** RGBA, 8 bits each, straight (not premultiplied) alpha, rows top to bottom. */
  rgba: Uint8Array;
}

type Layer = { shape: Shape; colour: Rgb; erase?: boolean };

const SAMPLES = 8;

function render(size: number, layers: readonly Layer[]): Raster {
  const rgba = new Uint8Array(size * size * 4);
  const unit = 16 / size;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      // Premultiplied sums over the pixel's samples.
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const x = (px + (sx + 0.5) / SAMPLES) * unit;
          const y = (py + (sy + 0.5) / SAMPLES) * unit;
          let cr = 0;
          let cg = 0;
          let cb = 0;
          let ca = 0;
          for (const layer of layers) {
            if (!layer.shape(x, y)) continue;
            if (layer.erase) {
              cr = cg = cb = ca = 0;
            } else {
              [cr, cg, cb] = layer.colour;
              ca = 1;
            }
          }
          r += cr * ca;
          g += cg * ca;
          b += cb * ca;
          a += ca;
        }
      }
      const offset = (py * size + px) * 4;
      const n = SAMPLES * SAMPLES;
      if (a > 0) {
        rgba[offset] = Math.round(r / a);
        rgba[offset + 1] = Math.round(g / a);
        rgba[offset + 2] = Math.round(b / a);
      }
      rgba[offset + 3] = Math.round((a / n) * 255);
    }
  }
  return { width: size, height: size, rgba };
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];

function darker(colour: Rgb): Rgb {
  return [Math.round(colour[0] * 0.62), Math.round(colour[1] * 0.62), Math.round(colour[2] * 0.62)];
}

/** The colour icon for Windows and Linux panels. */
export function colourIcon(name: TrayIconName, size: number): Raster {
  const colour = TRAY_COLOURS[name];
  const sign = SIGNS[name];
  if (name === 'disconnected') return render(size, [{ shape: shieldRim(1.9), colour }]);
  const layers: Layer[] = [
    { shape: shieldFill, colour },
    // A darker rim gives the shield a crisp edge on a light panel.
    { shape: shieldRim(0.9), colour: darker(colour) },
  ];
  if (sign) layers.push({ shape: sign, colour: WHITE });
  return render(size, layers);
}

/** The macOS template image: black and alpha only. */
export function templateIcon(name: TrayIconName, size: number): Raster {
  const sign = SIGNS[name];
  const filled = name === 'connected' || name === 'reconnecting';
  const layers: Layer[] = filled ? [{ shape: shieldFill, colour: BLACK }] : [{ shape: shieldRim(1.5), colour: BLACK }];
  if (sign) layers.push(filled ? { shape: sign, colour: BLACK, erase: true } : { shape: sign, colour: BLACK });
  return render(size, layers);
}

// --- PNG ----------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGBA PNG of the raster (each row unfiltered). */
export function encodePng(raster: Raster): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(raster.width, 0);
  header.writeUInt32BE(raster.height, 4);
  header[8] = 8; // bits per channel
  header[9] = 6; // RGBA
  const rows = Buffer.alloc((raster.width * 4 + 1) * raster.height);
  for (let y = 0; y < raster.height; y++) {
    rows[y * (raster.width * 4 + 1)] = 0;
    Buffer.from(raster.rgba.buffer, raster.rgba.byteOffset + y * raster.width * 4, raster.width * 4).copy(rows, y * (raster.width * 4 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Every file of build/tray: name → raster. */
export function trayIconFiles(): Map<string, Raster> {
  const files = new Map<string, Raster>();
  for (const name of TRAY_ICON_NAMES) {
    files.set(`tray-${name}.png`, colourIcon(name, 16));
    files.set(`tray-${name}@2x.png`, colourIcon(name, 32));
    files.set(`tray-${name}Template.png`, templateIcon(name, 16));
    files.set(`tray-${name}Template@2x.png`, templateIcon(name, 32));
  }
  return files;
}

export function writeTrayIcons(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [file, raster] of trayIconFiles()) {
    writeFileSync(join(dir, file), encodePng(raster));
    written.push(file);
  }
  return written;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'build', 'tray');
  const written = writeTrayIcons(dir);
  process.stdout.write(`wrote ${written.length} icons to ${dir}\n`);
}
