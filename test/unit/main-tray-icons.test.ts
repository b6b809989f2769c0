/**
 * The tray icons in build/tray are the ones scripts/tray-icons.ts draws, and they do what a
 * tray icon must: read on light and dark panels, keep the states apart without colour (macOS
 * templates are black and alpha only), and the connected one is a check, not a "no entry" bar.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { repoPath } from '../support/paths.js';
import { colourIcon, templateIcon, TRAY_COLOURS, TRAY_ICON_NAMES, trayIconFiles, type Raster } from '../../scripts/tray-icons.js';

function decodePng(bytes: Buffer): Raster {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let offset = 8;
  let width = 0;
  let height = 0;
  const data: Buffer[] = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('ascii', offset + 4, offset + 8);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.deepEqual([body[8], body[9]], [8, 6], '8-bit RGBA');
    }
    if (type === 'IDAT') data.push(body);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(data));
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width * 4 + 1)], 0, 'rows are unfiltered');
    rgba.set(raw.subarray(y * (width * 4 + 1) + 1, (y + 1) * (width * 4 + 1)), y * width * 4);
  }
  return { width, height, rgba };
}

/** WCAG relative luminance of an sRGB colour. */
function luminance([r, g, b]: readonly number[]): number {
  const lin = (c: number) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
}

function contrast(a: readonly number[], b: readonly number[]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const LIGHT_PANEL = [0xf3, 0xf3, 0xf3];
const DARK_PANEL = [0x1f, 0x1f, 0x1f];

/** Share of the icon's pixels that stand out (3:1) from the panel once drawn on it. */
function visibleShare(raster: Raster, panel: readonly number[]): number {
  let visible = 0;
  for (let i = 0; i < raster.width * raster.height; i++) {
    const a = raster.rgba[i * 4 + 3]! / 255;
    const drawn = [0, 1, 2].map((c) => raster.rgba[i * 4 + c]! * a + panel[c]! * (1 - a));
    if (contrast(drawn, panel) >= 3) visible++;
  }
  return visible / (raster.width * raster.height);
}

test('build/tray holds exactly the drawn icons, pixel for pixel (run scripts/tray-icons after a change)', () => {
  const drawn = trayIconFiles();
  assert.deepEqual(readdirSync(repoPath('build', 'tray')).sort(), [...drawn.keys()].sort());
  for (const [file, raster] of drawn) {
    const stored = decodePng(readFileSync(repoPath('build', 'tray', file)));
    assert.equal(stored.width, raster.width, file);
    assert.ok(Buffer.from(stored.rgba).equals(Buffer.from(raster.rgba)), `${file} differs from what scripts/tray-icons.ts draws`);
  }
});

test('sizes: 16 px and 32 px (@2x) of every icon, colour and template', () => {
  for (const [file, raster] of trayIconFiles()) assert.equal(raster.width, file.includes('@2x') ? 32 : 16, file);
});

test('macOS templates are black and alpha only', () => {
  for (const [file, raster] of trayIconFiles()) {
    if (!file.includes('Template')) continue;
    for (let i = 0; i < raster.rgba.length; i += 4) assert.deepEqual([raster.rgba[i], raster.rgba[i + 1], raster.rgba[i + 2]], [0, 0, 0], file);
  }
});

test('the colour icons read on a light panel and on a dark one', () => {
  for (const name of TRAY_ICON_NAMES) {
    assert.ok(contrast(TRAY_COLOURS[name], LIGHT_PANEL) >= 3, `${name} on light`);
    assert.ok(contrast(TRAY_COLOURS[name], DARK_PANEL) >= 3, `${name} on dark`);
    // The white sign inside stands out from the shield.
    assert.ok(contrast(TRAY_COLOURS[name], [255, 255, 255]) >= 3, `${name} sign`);
    for (const size of [16, 32]) {
      const raster = colourIcon(name, size);
      // The outline-only "disconnected" shield covers less, by design; the others are filled.
      const least = name === 'disconnected' ? 0.12 : 0.3;
      assert.ok(visibleShare(raster, LIGHT_PANEL) >= least, `${name}@${size} on light: ${visibleShare(raster, LIGHT_PANEL)}`);
      assert.ok(visibleShare(raster, DARK_PANEL) >= least, `${name}@${size} on dark: ${visibleShare(raster, DARK_PANEL)}`);
    }
  }
});

test('every state looks different, also without colour', () => {
  const differing = (a: Raster, b: Raster) => {
    let count = 0;
    for (let i = 3; i < a.rgba.length; i += 4) if (Math.abs(a.rgba[i]! - b.rgba[i]!) > 128) count++;
    return count;
  };
  for (const [i, a] of TRAY_ICON_NAMES.entries()) {
    for (const b of TRAY_ICON_NAMES.slice(i + 1)) {
      // Shapes alone (alpha), at 16 px: at least 8 pixels apart.
      assert.ok(differing(templateIcon(a, 16), templateIcon(b, 16)) >= 8, `${a} vs ${b} templates`);
    }
  }
});

test('the connected icon is a check mark on a shield, not a "no entry" bar in a circle', () => {
  const raster = colourIcon('connected', 32);
  const white: [number, number][] = [];
  for (let y = 0; y < 32; y++) {
    for (let x = 0; x < 32; x++) {
      const i = (y * 32 + x) * 4;
      if (raster.rgba[i]! > 240 && raster.rgba[i + 1]! > 240 && raster.rgba[i + 2]! > 240 && raster.rgba[i + 3] === 255) white.push([x, y]);
    }
  }
  assert.ok(white.length > 20);
  const xs = white.map(([x]) => x);
  const ys = white.map(([, y]) => y);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  // A bar is wide and flat; a check is about half as tall as wide, at least.
  assert.ok(maxY - minY >= 0.5 * (maxX - minX), `sign ${maxX - minX} wide, ${maxY - minY} tall`);
  // A check's lowest point is left of its middle, and its right arm rises higher than its left.
  const lowest = white.filter(([, y]) => y === maxY).map(([x]) => x);
  assert.ok(Math.max(...lowest) < (minX + maxX) / 2, 'the lowest point of the sign is left of its middle');
  const rightTop = Math.min(...white.filter(([x]) => x > (minX + maxX) / 2).map(([, y]) => y));
  const leftTop = Math.min(...white.filter(([x]) => x < (minX + maxX) / 2).map(([, y]) => y));
  assert.ok(rightTop < leftTop, 'the right arm is the long one');
  // The outline is a shield: its bottom comes to a point (the last opaque row is narrow), unlike a disc.
  const opaqueInRow = (y: number) => [...Array(32).keys()].filter((x) => raster.rgba[(y * 32 + x) * 4 + 3]! > 128).length;
  const rows = [...Array(32).keys()].filter((y) => opaqueInRow(y) > 0);
  const widest = Math.max(...rows.map(opaqueInRow));
  assert.ok(opaqueInRow(rows[rows.length - 1]!) <= widest / 4, 'the shield ends in a point');
  assert.ok(opaqueInRow(rows[Math.floor(rows.length * 0.3)]!) >= widest * 0.95, 'the shield is full width from its shoulders down (a disc is not)');
});
