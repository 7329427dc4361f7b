/** A compressible 4 KiB page that names (seed, offset). */
export function stampPage(seed: number, offset: number): Uint8Array;
