// SPDX-License-Identifier: MIT
/**
 * memmap.ts: a picture of physical memory: one cell per page frame, colored
 * by who holds it (zsmalloc, zbud, tmem metadata, ...) and, for allocator
 * frames, by size class, with the fill level drawn as the filled share of the
 * cell. Rendered as SVG for `tmem simulate --svg`, and as cell colors for the
 * browser demo's canvas (same palette, same layout).
 *
 * It also holds the names of the frame figures (FRAME_FIGURES), so the
 * legend here, the command's text and the browser demo say the same thing
 * with the same words; sim/simulate.ts explains what each counts.
 * @module
 */

/**
 * The name of each frame figure, as every report shows it (see the essay).
 * A reader who meets "object frames" in the text, the SVG legend or the demo
 * is reading the same count.
 */
export const FRAME_FIGURES = {
  /** All frames of the run's zpool: object frames + pool metadata frames. */
  pool: "pool frames",
  /** Frames holding compressed pages. */
  object: "object frames",
  /** Frames of the pool's own metadata (handle tables, descriptors). */
  meta: "pool metadata frames",
  /** Object frames of a fresh pool holding the same sizes, after compaction. */
  replay: "object frames, compacted replay",
  /** Object frames the kernel's allocator would use for the same sizes. */
  kernel: "kernel's object frames",
} as const;

/** What one frame holds, as the memory map shows it. */
export interface FrameInfo {
  /** Owner tag (0 = free; see Owner in bindings/layout.ts). */
  owner: number;
  /** Size class in bytes of the objects in the frame (0 when not known or not an allocator frame). */
  classSize: number;
  /** How full the frame is, 0..1 (1 for a frame that is simply in use). */
  fill: number;
}

/** Palette by owner tag: [hue, saturation %, base lightness %]. */
const OWNER_STYLE: Record<number, { name: string; label: string; hue: number; sat: number }> = {
  1: { name: "metadata", label: "metadata frames (all pools)", hue: 0, sat: 0 },
  2: { name: "zsmalloc", label: `zsmalloc ${FRAME_FIGURES.object}`, hue: 215, sat: 70 },
  3: { name: "zbud", label: `zbud ${FRAME_FIGURES.object}`, hue: 140, sat: 55 },
  4: { name: "tmem", label: "tmem index frames", hue: 30, sat: 85 },
};

/** CSS color of a frame's cell (fill part). Size classes shade from light (small) to dark (large). */
export function frameColor(f: FrameInfo): string {
  if (f.owner === 0) return "#f4f4f4";
  const s = OWNER_STYLE[f.owner] ?? { name: "user", hue: 280, sat: 45 };
  const light = f.classSize > 0 ? 78 - Math.round((Math.min(f.classSize, 4096) / 4096) * 48) : 50;
  return `hsl(${s.hue} ${s.sat}% ${light}%)`;
}

/**
 * Legend entries for the owners present in `frames`: the figure's name (an
 * allocator's entry is its {@link FRAME_FIGURES}.object count, e.g.
 * "zsmalloc object frames"), its color and the count of frames.
 */
export function legend(frames: readonly FrameInfo[]): Array<{ name: string; color: string; count: number }> {
  const counts = new Map<number, number>();
  for (const f of frames) counts.set(f.owner, (counts.get(f.owner) ?? 0) + 1);
  return [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([owner, count]) => ({
    name: owner === 0 ? "free frames" : OWNER_STYLE[owner]?.label ?? `owner ${owner} frames`,
    color: frameColor({ owner, classSize: 0, fill: 1 }),
    count,
  }));
}

/** Options of {@link renderMemoryMapSvg}. */
export interface MemoryMapSvgOptions {
  /** Cells per row. @defaultValue 64 */
  columns?: number;
  /** Cell size in px. @defaultValue 10 */
  cell?: number;
  /** Title line. */
  title?: string;
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/**
 * Render the memory map as a standalone SVG document. Each frame is a cell;
 * its colored part rises from the bottom in proportion to its fill level.
 */
export function renderMemoryMapSvg(frames: readonly FrameInfo[], o: MemoryMapSvgOptions = {}): string {
  const cols = o.columns ?? 64;
  const cell = o.cell ?? 10;
  const rows = Math.ceil(frames.length / cols);
  const top = 40;
  const leg = legend(frames);
  const width = cols * cell + 20;
  const height = top + rows * cell + 30 + 18 * leg.length;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14">${esc(o.title ?? `tmem physical memory: ${frames.length} frames`)}</text>`,
    `<text x="10" y="34" fill="#666">one cell per 4 KiB frame; color = owner and size class (darker = larger); filled height = fill level</text>`,
  ];
  frames.forEach((f, i) => {
    const x = 10 + (i % cols) * cell;
    const y = top + Math.floor(i / cols) * cell;
    parts.push(`<rect x="${x}" y="${y}" width="${cell - 1}" height="${cell - 1}" fill="#f4f4f4"/>`);
    if (f.owner !== 0) {
      const h = Math.max(1, Math.round((cell - 1) * Math.min(1, Math.max(0, f.fill))));
      parts.push(`<rect x="${x}" y="${y + cell - 1 - h}" width="${cell - 1}" height="${h}" fill="${frameColor(f)}"><title>frame ${i}: ${esc(OWNER_STYLE[f.owner]?.name ?? `owner ${f.owner}`)}${f.classSize ? `, class ${f.classSize} B` : ""}, ${(f.fill * 100).toFixed(0)} % full</title></rect>`);
    }
  });
  let ly = top + rows * cell + 24;
  for (const l of leg) {
    parts.push(`<rect x="10" y="${ly - 10}" width="12" height="12" fill="${l.color}" stroke="#999"/><text x="28" y="${ly}">${esc(l.name)}: ${l.count}</text>`);
    ly += 18;
  }
  parts.push("</svg>");
  return parts.join("\n");
}
