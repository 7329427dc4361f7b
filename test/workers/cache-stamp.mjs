// Version-stamped values for the TmemCache fault tests (the Workers and the
// main thread): a 16-byte stamp (writer, version, key, length), then bytes
// derived from it, so any value read back says whether it is whole.

/** The value writer `w` writes as version `v` of key `k`: `len` bytes after the stamp, random (incompressible) or text-like. */
export function makeValue(w, v, k, len, random) {
  const b = new Uint8Array(16 + len);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, w, true); dv.setUint32(4, v, true); dv.setUint32(8, k, true); dv.setUint32(12, len | (random ? 0x80000000 : 0), true);
  const body = b.subarray(16);
  let x = ((w * 73856093) ^ (v * 19349663) ^ (k * 83492791)) | 1;
  if (random) {
    for (let i = 0; i + 4 <= len; i += 4) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; body[i] = x; body[i + 1] = x >>> 8; body[i + 2] = x >>> 16; body[i + 3] = x >>> 24; }
  } else {
    const n0 = Math.min(len, 61);
    for (let i = 0; i < n0; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; body[i] = 97 + ((x >>> 0) % 23); }
    for (let n = n0; n < len; n *= 2) body.copyWithin(n, 0, Math.min(n, len - n));
  }
  return b;
}

/** null if `got` is a whole value stamped for key `k`, else what is wrong. */
export function checkValue(k, got) {
  if (!(got instanceof Uint8Array) || got.length < 16) return `key ${k}: not a stamped value (${got?.length})`;
  const dv = new DataView(got.buffer, got.byteOffset, got.length);
  const w = dv.getUint32(0, true), v = dv.getUint32(4, true), kk = dv.getUint32(8, true), lw = dv.getUint32(12, true);
  const len = lw & 0x7fffffff;
  if (kk !== k) return `key ${k}: holds a value stamped for key ${kk}`;
  if (got.length !== 16 + len) return `key ${k}: stamped length ${len}, got ${got.length - 16} (torn)`;
  const want = makeValue(w, v, k, len, (lw & 0x80000000) !== 0);
  for (let i = 0; i < want.length; i++) if (want[i] !== got[i]) return `key ${k}: byte ${i} differs from writer ${w} version ${v} (mixed or torn)`;
  return null;
}
