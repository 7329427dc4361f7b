import { describe, expect, it } from "vitest";
import { TmemError, ErrorCode, Status, statusError, check } from "../bindings/status.js";
import { LAYOUT } from "../bindings/layout.generated.js";
import { throwsWith } from "./helpers.js";

describe("status codes", () => {
  it("maps each negative errno to its TmemError code", () => {
    // Linux's errno numbers, written out here as the independent reference.
    const table: Array<[number, ErrorCode]> = [
      [-2, "ENOENT"], [-7, "E2BIG"], [-12, "ENOMEM"], [-14, "EFAULT"], [-16, "EBUSY"], [-17, "EEXIST"], [-19, "ENODEV"],
      [-22, "EINVAL"], [-28, "ENOSPC"], [-71, "EPROTO"], [-74, "EBADMSG"], [-110, "ETIMEDOUT"], [-130, "EOWNERDEAD"],
    ];
    for (const [status, code] of table) {
      const e = statusError(status, "op");
      expect(e).toBeInstanceOf(TmemError);
      expect(e.code).toBe(code);
      expect(e.message).toContain("op");
      expect(Status[code as keyof typeof Status], code).toBe(status);
    }
    expect(Object.keys(Status).length).toBe(table.length);
  });
  it("Status is the core's E_* (layout.generated.ts) negated, name for name", () => {
    for (const [name, value] of Object.entries(LAYOUT).filter(([n]) => n.startsWith("E_"))) {
      expect(Status[("E" + name.slice(2)) as keyof typeof Status], name).toBe(-value);
    }
  });
  it("check passes non-negative values through and throws on negative ones", () => {
    expect(check(0, "x")).toBe(0);
    expect(check(41, "x")).toBe(41);
    throwsWith(() => check(Status.ENOMEM, "frame_alloc"), "ENOMEM");
  });
  it("an unknown status is still a TmemError", () => {
    expect(statusError(-9999, "op").code).toBe(ErrorCode.EINVAL);
  });
});
