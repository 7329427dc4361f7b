// `pm.core` for tests and test Workers that call the tmem exports directly
// with keys written as six words (the exports take an object id as ONE
// address, assembly/tmem_layout.ts CALL_RECORD): tmem_put, tmem_get,
// tmem_flush_page and tmem_flush_object write the six words into this
// thread's call record (tmem_call_record, as TmemCore.oidArg does) and pass
// its address; every other export is pm.core's own.
export function sixWordOids(pm) {
  const core = pm.core;
  const addr = core.tmem_call_record();
  const rec = new Uint32Array(pm.memory.buffer, addr, 6);
  const at = (o0, o1, o2, o3, o4, o5) => {
    rec[0] = o0; rec[1] = o1; rec[2] = o2; rec[3] = o3; rec[4] = o4; rec[5] = o5;
    return addr;
  };
  // The exports object is frozen: shadow its four functions with own properties.
  return Object.create(core, {
    tmem_put: { value: (pool, o0, o1, o2, o3, o4, o5, index, lo, hi, meta, noReplace) =>
      core.tmem_put(pool, at(o0, o1, o2, o3, o4, o5), index, lo, hi, meta, noReplace) },
    tmem_get: { value: (pool, o0, o1, o2, o3, o4, o5, index, mode) => core.tmem_get(pool, at(o0, o1, o2, o3, o4, o5), index, mode) },
    tmem_flush_page: { value: (pool, o0, o1, o2, o3, o4, o5, index) => core.tmem_flush_page(pool, at(o0, o1, o2, o3, o4, o5), index) },
    tmem_flush_object: { value: (pool, o0, o1, o2, o3, o4, o5, max) => core.tmem_flush_object(pool, at(o0, o1, o2, o3, o4, o5), max) },
  });
}
