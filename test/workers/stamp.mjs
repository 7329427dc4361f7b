// A compressible 4 KiB page that names (seed, offset): text-like bytes from
// a xorshift stream, with the seed and offset written into its first words,
// so a page of another offset or another version never compares equal.
export function stampPage(seed, offset) {
  const p = new Uint8Array(4096);
  let x = ((seed * 2654435761) ^ (offset * 40503)) >>> 0 || 1;
  for (let i = 0; i < 4096; i++) {
    if ((i & 63) === 0) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; }
    p[i] = 97 + ((x >>> ((i & 7) * 3)) & 15);
  }
  const dv = new DataView(p.buffer);
  dv.setUint32(0, seed >>> 0, true);
  dv.setUint32(4, offset >>> 0, true);
  return p;
}
