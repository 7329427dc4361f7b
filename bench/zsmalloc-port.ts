// SPDX-License-Identifier: MIT
/**
 * zsmalloc-port.ts: a pure-TypeScript port of our zsmalloc (assembly/zsmalloc.ts),
 * for benchmarks only: the same algorithm over one ArrayBuffer of frames, so
 * bench/zsmalloc.ts and bench/zpool.ts can show what running it in wasm buys.
 *
 * What it is not: shared. It lives in one thread's ArrayBuffer, so it takes no
 * locks and needs no atomics (the wasm takes a per-class mutex on every call),
 * validates no pool id, and keeps its handle and descriptor tables in flat
 * growable typed arrays (the wasm's live in page frames behind a two-level
 * directory). It is not part of the library; bench/zsmalloc.ts checks that it
 * frees the same frames as the wasm for one sequence before timing it.
 *
 * Same algorithm, same layout decisions: size classes 32..4096 step 16 with
 * the kernel's modern least-waste pages-per-zspage rule and merging; zspages
 * of non-contiguous frames described by a 128-byte descriptor (32 u32: list
 * links, inuse, class, flags, fullness group, bitmap hint, a 256-bit free-slot
 * bitmap and the frame list); no in-object header; a handle table of 8-byte
 * entries with 8-bit generations, handed to classes in chunks of 16 whose
 * first entry links the class's chunks; per-class free lists of handles and
 * descriptors; fullness groups 1..10 chosen by multiplication; huge objects
 * one per frame; compaction that isolates the emptiest zspages the others can
 * absorb and walks the class's handle chunks to move their objects.
 * Where the wasm has moved on and the port has not (neither changes which
 * frames the objects take): the wasm's descriptors are 64-byte slots of one
 * pool-wide slab whose frames go back as they empty (assembly/zsmalloc_desc.ts),
 * its zspages start short while a class is small and small classes borrow
 * slots of larger ones, and it keeps payload-byte and frame counters; the
 * port keeps 128-byte descriptors on per-class free lists.
 *
 * API: `new ZsmallocPort({ frames, maxPagesPerZspage })` (`pages` is accepted
 * as a synonym of `frames`); `malloc(size)` → handle (throws when out of
 * frames); `free(handle)` → 0 or -22; `map(handle, mode)` → a view of the
 * object's bytes (a bounce buffer when it straddles frames), `unmap(handle)`;
 * `compact()` → frames freed; `totalPages()`.
 * @module
 */

const PAGE = 4096;
const CLASSES = 255;
const GROUPS = 10;
const FULL = GROUPS + 1;
const IDX_BITS = 23;
const IDX_MASK = (1 << IDX_BITS) - 1;
const ALLOC = 0x80000000;
const CHUNK_MARK = 0x40000000;
const HANDLE_CHUNK = 16;
const ZSPAGE_CHUNK = 2;
const DW = 32; // u32 words per descriptor
const D_NEXT = 0, D_PREV = 1, D_INUSE = 2, D_CLS = 3, D_FLAGS = 4, D_GROUP = 5, D_HINT = 6, D_BITMAP = 8, D_PAGES = 16;
const F_INUSE = 1, F_ISOLATED = 2;

/** Options of {@link ZsmallocPort}. */
export interface ZsmallocPortOptions {
  /** Page frames of the arena. */
  frames?: number;
  /** Synonym of `frames`. */
  pages?: number;
  /** Chain length, 1..16. @defaultValue 8 */
  maxPagesPerZspage?: number;
}

function pagesPerZspage(size: number, max: number): number {
  if ((size & (size - 1)) === 0) return 1;
  let best = 1, waste = PAGE;
  for (let k = 1; k <= max; k++) {
    const w = (k * PAGE) % size;
    if (w < waste) { waste = w; best = k; }
  }
  return best;
}

/** Pure-TS zsmalloc over an ArrayBuffer (bench only). */
export class ZsmallocPort {
  readonly frames: number;
  private readonly mem: Uint8Array;
  private readonly freeStack: Int32Array;
  private freeTop = 0;
  private brk = 0;
  private readonly classMap = new Uint8Array(256);
  private readonly nClasses: number;
  private readonly cSize: Uint32Array;
  private readonly cObjs: Uint32Array;
  private readonly cPages: Uint32Array;
  private readonly cHuge: Uint8Array;
  private readonly cMul: Uint32Array;
  private readonly cMask: Uint32Array;
  private readonly cHandleFree: Uint32Array;
  private readonly cZspageFree: Uint32Array;
  private readonly cUsed: Uint32Array;
  private readonly cZspages: Uint32Array;
  private readonly cLists: Uint32Array;
  private readonly cChunks: Uint32Array;
  private handles = new Uint32Array(2 * 1024);
  private handleBrk = 0;
  private desc = new Uint32Array(DW * 256);
  private zspageBrk = 0;
  private readonly bounce = new Uint8Array(PAGE);
  private mapped = 0;
  private mappedAddr = 0;
  private mappedLen1 = 0;
  private mappedPart2 = 0;
  private mappedSize = 0;
  private mappedMode = "rw";
  private mappedStraddles = false;

  constructor(options: ZsmallocPortOptions = {}) {
    const frames = options.frames ?? options.pages ?? 4096;
    const max = options.maxPagesPerZspage ?? 8;
    if (!Number.isInteger(frames) || frames < 1 || frames > 1048575) throw new RangeError(`frames must be 1..1048575, not ${frames}`);
    if (!Number.isInteger(max) || max < 1 || max > 16) throw new RangeError(`maxPagesPerZspage must be 1..16, not ${max}`);
    this.frames = frames;
    const buf = new ArrayBuffer(frames * PAGE);
    this.mem = new Uint8Array(buf);
    this.freeStack = new Int32Array(frames);
    const kept: Array<[number, number, number]> = [];
    const nominal: number[] = [];
    for (let i = CLASSES - 1; i >= 0; i--) {
      const size = 32 + 16 * i;
      const k = pagesPerZspage(size, max), o = Math.floor((k * PAGE) / size);
      const last = kept[kept.length - 1];
      if (!last || last[1] !== k || last[2] !== o) kept.push([size, k, o]);
      nominal[i] = kept.length - 1;
    }
    const n = kept.length;
    this.nClasses = n;
    kept.reverse();
    for (let i = 0; i < CLASSES; i++) this.classMap[i] = n - 1 - nominal[i]!;
    this.classMap[255] = this.classMap[254]!;
    this.cSize = new Uint32Array(n); this.cObjs = new Uint32Array(n); this.cPages = new Uint32Array(n);
    this.cHuge = new Uint8Array(n); this.cMul = new Uint32Array(n); this.cMask = new Uint32Array(n);
    this.cHandleFree = new Uint32Array(n); this.cZspageFree = new Uint32Array(n);
    this.cUsed = new Uint32Array(n); this.cZspages = new Uint32Array(n); this.cLists = new Uint32Array(n * 12);
    this.cChunks = new Uint32Array(n);
    kept.forEach(([size, k, o], c) => {
      this.cSize[c] = size; this.cObjs[c] = o; this.cPages[c] = k;
      this.cHuge[c] = k === 1 && o === 1 ? 1 : 0;
      this.cMul[c] = Math.floor((GROUPS << 16) / o);
    });
  }

  // ── frames ──
  private frameAlloc(): number {
    if (this.freeTop > 0) return this.freeStack[--this.freeTop]!;
    if (this.brk < this.frames) return this.brk++;
    return -1;
  }
  private frameFree(pfn: number): void {
    this.freeStack[this.freeTop++] = pfn;
  }

  // ── lists ──
  private listInsert(c: number, id: number, g: number): void {
    const d = this.desc, head = c * 12 + g, old = this.cLists[head]!;
    d[id * DW + D_NEXT] = old;
    d[id * DW + D_PREV] = 0;
    if (old !== 0) d[old * DW + D_PREV] = id;
    this.cLists[head] = id;
    this.cMask[c]! |= 1 << g;
  }
  private listRemove(c: number, id: number, g: number): void {
    const d = this.desc, next = d[id * DW + D_NEXT]!, prev = d[id * DW + D_PREV]!, head = c * 12 + g;
    if (prev !== 0) d[prev * DW + D_NEXT] = next; else this.cLists[head] = next;
    if (next !== 0) d[next * DW + D_PREV] = prev;
    if (this.cLists[head] === 0) this.cMask[c]! &= ~(1 << g);
  }
  private group(c: number, inuse: number): number {
    if (inuse === 0) return 0;
    if (inuse >= this.cObjs[c]!) return FULL;
    return ((inuse * this.cMul[c]!) >>> 16) + 1;
  }
  private regroup(c: number, id: number): void {
    const d = this.desc, b = id * DW;
    const ng = this.group(c, d[b + D_INUSE]!), og = d[b + D_GROUP]!;
    if (ng === og) return;
    const listed = (d[b + D_FLAGS]! & F_ISOLATED) === 0;
    if (listed && og !== 0 && og !== FULL) this.listRemove(c, id, og);
    d[b + D_GROUP] = ng;
    if (listed && ng !== 0 && ng !== FULL) this.listInsert(c, id, ng);
  }

  // ── tables ──
  private refillHandles(c: number): void {
    const s = this.handleBrk;
    if (s + HANDLE_CHUNK > IDX_MASK) throw new Error("out of handles");
    this.handleBrk = s + HANDLE_CHUNK;
    while (this.handles.length < 2 * this.handleBrk) {
      const t = new Uint32Array(this.handles.length * 2);
      t.set(this.handles);
      this.handles = t;
    }
    const end = s + HANDLE_CHUNK;
    this.handles[2 * s] = this.cChunks[c]!;
    this.handles[2 * s + 1] = (CHUNK_MARK | c) >>> 0;
    this.cChunks[c] = s / HANDLE_CHUNK + 1;
    for (let i = s + 1; i < end; i++) {
      this.handles[2 * i] = i + 1 < end ? i + 1 : this.cHandleFree[c]!;
      this.handles[2 * i + 1] = 0;
    }
    this.cHandleFree[c] = s + 1;
  }
  private refillZspages(c: number): void {
    const s = this.zspageBrk;
    this.zspageBrk = s + ZSPAGE_CHUNK;
    while (this.desc.length < DW * this.zspageBrk) {
      const t = new Uint32Array(this.desc.length * 2);
      t.set(this.desc);
      this.desc = t;
    }
    const first = s === 0 ? 1 : s, end = s + ZSPAGE_CHUNK;
    for (let i = first; i < end; i++) {
      this.desc[i * DW + D_NEXT] = i + 1 < end ? i + 1 : this.cZspageFree[c]!;
      this.desc[i * DW + D_FLAGS] = 0;
    }
    this.cZspageFree[c] = first;
  }
  private newZspage(c: number): number {
    if (this.cZspageFree[c] === 0) this.refillZspages(c);
    const id = this.cZspageFree[c]!, d = this.desc, b = id * DW, pages = this.cPages[c]!;
    for (let p = 0; p < pages; p++) {
      const pfn = this.frameAlloc();
      if (pfn < 0) {
        for (let q = 0; q < p; q++) this.frameFree(d[b + D_PAGES + q]!);
        return -1;
      }
      d[b + D_PAGES + p] = pfn;
    }
    this.cZspageFree[c] = d[b + D_NEXT]!;
    const objs = this.cObjs[c]!;
    for (let w = 0; w < 8; w++) {
      const f = w << 5;
      d[b + D_BITMAP + w] = objs >= f + 32 ? 0xffffffff : objs > f ? ((1 << (objs - f)) - 1) >>> 0 : 0;
    }
    d[b + D_NEXT] = 0; d[b + D_PREV] = 0; d[b + D_INUSE] = 0; d[b + D_CLS] = c;
    d[b + D_FLAGS] = F_INUSE; d[b + D_GROUP] = 0; d[b + D_HINT] = 0;
    this.cZspages[c]!++;
    return id;
  }
  private allocSlot(id: number): number {
    const d = this.desc, b = id * DW;
    let w = d[b + D_HINT]!, bits = d[b + D_BITMAP + w]!;
    while (bits === 0) bits = d[b + D_BITMAP + ++w]!;
    d[b + D_BITMAP + w] = bits & (bits - 1);
    d[b + D_HINT] = w;
    return (w << 5) | (31 - Math.clz32(bits & -bits));
  }
  private freeSlot(id: number, slot: number): void {
    const d = this.desc, b = id * DW, w = slot >>> 5;
    d[b + D_BITMAP + w]! |= 1 << (slot & 31);
    if (w < d[b + D_HINT]!) d[b + D_HINT] = w;
  }
  private address(id: number, off: number): number {
    return this.desc[id * DW + D_PAGES + (off >>> 12)]! * PAGE + (off & (PAGE - 1));
  }
  private freeZspage(c: number, id: number): void {
    const d = this.desc, b = id * DW;
    for (let p = 0; p < this.cPages[c]!; p++) this.frameFree(d[b + D_PAGES + p]!);
    d[b + D_FLAGS] = 0;
    d[b + D_NEXT] = this.cZspageFree[c]!;
    this.cZspageFree[c] = id;
    this.cZspages[c]!--;
  }

  /** Allocate `size` bytes (1..4096); returns the handle. @throws Error when frames run out or the size is bad. */
  malloc(size: number): number {
    if (!(size >= 1 && size <= PAGE)) throw new RangeError(`size must be 1..4096, not ${size}`);
    const s = size < 32 ? 32 : size;
    const c = this.classMap[(s - 17) >>> 4]!;
    if (this.cHandleFree[c] === 0) this.refillHandles(c);
    const idx = this.cHandleFree[c]!;
    let where: number;
    if (this.cHuge[c]) {
      const pfn = this.frameAlloc();
      if (pfn < 0) throw new Error("out of frames");
      where = pfn << 11;
      this.cZspages[c]!++;
    } else {
      const mask = this.cMask[c]!;
      let id: number;
      if (mask !== 0) id = this.cLists[c * 12 + 31 - Math.clz32(mask)]!;
      else {
        id = this.newZspage(c);
        if (id < 0) throw new Error("out of frames");
      }
      const slot = this.allocSlot(id);
      this.desc[id * DW + D_INUSE]!++;
      this.regroup(c, id);
      where = (id << 11) | (slot << 3);
    }
    const h = this.handles;
    this.cHandleFree[c] = h[2 * idx]!;
    const gen = (h[2 * idx + 1]! >>> 20) & 0xff;
    h[2 * idx] = where;
    h[2 * idx + 1] = (ALLOC | (gen << 20) | (c << 12) | (size - 1)) >>> 0;
    this.cUsed[c]!++;
    return ((gen << IDX_BITS) | idx) >>> 0;
  }

  private lookup(handle: number): number {
    const idx = handle & IDX_MASK;
    if (idx === 0 || idx >= this.handleBrk) return -1;
    const info = this.handles[2 * idx + 1]!;
    if ((info & ALLOC) === 0 || ((info >>> 20) & 0xff) !== handle >>> IDX_BITS) return -1;
    return idx;
  }

  /** Free `handle`; 0, or -22 for a bad handle, -16 while it is mapped. */
  free(handle: number): number {
    const idx = this.lookup(handle);
    if (idx < 0) return -22;
    if (idx === (this.mapped & IDX_MASK) && this.mapped !== 0) return -16;
    const h = this.handles, info = h[2 * idx + 1]!, w0 = h[2 * idx]!, c = (info >>> 12) & 0xff;
    if (this.cHuge[c]) {
      this.frameFree(w0 >>> 11);
      this.cZspages[c]!--;
    } else {
      const id = w0 >>> 11, b = id * DW;
      this.freeSlot(id, (w0 >>> 3) & 255);
      const inuse = --this.desc[b + D_INUSE]!;
      if (inuse === 0) {
        const g = this.desc[b + D_GROUP]!;
        if (g !== 0 && g !== FULL) this.listRemove(c, id, g);
        this.freeZspage(c, id);
      } else {
        this.regroup(c, id);
      }
    }
    h[2 * idx] = this.cHandleFree[c]!;
    h[2 * idx + 1] = (((info >>> 20) + 1) & 0xff) << 20;
    this.cHandleFree[c] = idx;
    this.cUsed[c]!--;
    return 0;
  }

  /** Map `handle`: a view of its bytes until unmap. @throws Error for a bad handle or a second mapping. */
  map(handle: number, mode: "ro" | "wo" | "rw" = "rw"): Uint8Array {
    if (this.mapped !== 0) throw new Error("already mapped");
    const idx = this.lookup(handle);
    if (idx < 0) throw new Error("bad handle");
    const info = this.handles[2 * idx + 1]!, w0 = this.handles[2 * idx]!, c = (info >>> 12) & 0xff;
    const size = (info & 0xfff) + 1;
    this.mapped = handle;
    this.mappedMode = mode;
    this.mappedSize = size;
    if (this.cHuge[c]) {
      this.mappedStraddles = false;
      return this.mem.subarray((w0 >>> 11) * PAGE, (w0 >>> 11) * PAGE + size);
    }
    const id = w0 >>> 11, off = ((w0 >>> 3) & 255) * this.cSize[c]!;
    const addr = this.address(id, off), inPage = off & (PAGE - 1);
    if (inPage + size <= PAGE) {
      this.mappedStraddles = false;
      return this.mem.subarray(addr, addr + size);
    }
    const len1 = PAGE - inPage, part2 = this.address(id, off + len1);
    this.mappedStraddles = true;
    this.mappedAddr = addr; this.mappedLen1 = len1; this.mappedPart2 = part2;
    if (mode !== "wo") {
      this.bounce.set(this.mem.subarray(addr, addr + len1));
      this.bounce.set(this.mem.subarray(part2, part2 + size - len1), len1);
    }
    return this.bounce.subarray(0, size);
  }

  /** Unmap `handle` (copying a straddling object back unless mapped "ro"). */
  unmap(handle: number): void {
    if (this.mapped === 0 || handle !== this.mapped) throw new Error("not mapped");
    if (this.mappedStraddles && this.mappedMode !== "ro") {
      this.mem.set(this.bounce.subarray(0, this.mappedLen1), this.mappedAddr);
      this.mem.set(this.bounce.subarray(this.mappedLen1, this.mappedSize), this.mappedPart2);
    }
    this.mapped = 0;
  }

  /** Move objects from the emptiest zspages into the fullest; returns frames freed. */
  compact(): number {
    let freed = 0;
    const d = this.desc, h = this.handles;
    for (let c = 0; c < this.nClasses; c++) {
      if (this.cHuge[c]) continue;
      const objs = this.cObjs[c]!, size = this.cSize[c]!;
      let room = this.cZspages[c]! * objs - this.cUsed[c]!, moving = 0, isolated = 0;
      while (room >= objs && this.cMask[c] !== 0) {
        const mask = this.cMask[c]!;
        const g = 31 - Math.clz32(mask & -mask);
        const id = this.cLists[c * 12 + g]!;
        const inuse = d[id * DW + D_INUSE]!, freeIn = objs - inuse;
        if (moving + inuse > room - freeIn) break;
        this.listRemove(c, id, g);
        d[id * DW + D_FLAGS]! |= F_ISOLATED;
        d[id * DW + D_NEXT] = isolated;
        isolated = id;
        moving += inuse;
        room -= freeIn;
      }
      if (isolated === 0) continue;
      for (let chunk = this.cChunks[c]!; chunk !== 0 && moving !== 0; chunk = h[2 * (chunk - 1) * HANDLE_CHUNK]!) {
        const start = (chunk - 1) * HANDLE_CHUNK;
        for (let i = start + 1; i < start + HANDLE_CHUNK; i++) {
          if ((h[2 * i + 1]! & ALLOC) === 0) continue;
          if (this.mapped !== 0 && (this.mapped & IDX_MASK) === i) continue;
          const w0 = h[2 * i]!, src = w0 >>> 11, slot = (w0 >>> 3) & 255;
          if ((d[src * DW + D_FLAGS]! & F_ISOLATED) === 0) continue;
          const mask = this.cMask[c]!;
          if (mask === 0) { moving = 0; break; }
          const dst = this.cLists[c * 12 + 31 - Math.clz32(mask)]!;
          const ds = this.allocSlot(dst);
          d[dst * DW + D_INUSE]!++;
          this.regroup(c, dst);
          let len = (h[2 * i + 1]! & 0xfff) + 1, so = slot * size, dof = ds * size;
          while (len > 0) {
            const n = Math.min(len, PAGE - (so & (PAGE - 1)), PAGE - (dof & (PAGE - 1)));
            const sa = this.address(src, so);
            this.mem.copyWithin(this.address(dst, dof), sa, sa + n);
            len -= n; so += n; dof += n;
          }
          h[2 * i] = (dst << 11) | (ds << 3);
          this.freeSlot(src, slot);
          d[src * DW + D_INUSE]!--;
          this.regroup(c, src);
          moving--;
        }
      }
      while (isolated !== 0) {
        const next = d[isolated * DW + D_NEXT]!;
        if (d[isolated * DW + D_INUSE] === 0) {
          this.freeZspage(c, isolated);
          freed += this.cPages[c]!;
        } else {
          d[isolated * DW + D_FLAGS]! &= ~F_ISOLATED;
          const g = this.group(c, d[isolated * DW + D_INUSE]!);
          d[isolated * DW + D_GROUP] = g;
          if (g !== 0 && g !== FULL) this.listInsert(c, isolated, g);
        }
        isolated = next;
      }
    }
    return freed;
  }

  /** Frames holding objects. */
  totalPages(): number {
    let p = 0;
    for (let c = 0; c < this.nClasses; c++) p += this.cZspages[c]! * this.cPages[c]!;
    return p;
  }
}

export default ZsmallocPort;
