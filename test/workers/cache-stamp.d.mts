/** The value writer `w` writes as version `v` of key `k`: a 16-byte stamp, then `len` bytes (random: incompressible). */
export function makeValue(w: number, v: number, k: number, len: number, random: boolean): Uint8Array;
/** null if `got` is a whole value stamped for key `k`, else what is wrong. */
export function checkValue(k: number, got: unknown): string | null;
