import { describe, expect, it } from "vitest";
import { TmemError, ErrorCode, statusError, check } from "../bindings/status.js";

describe("status codes", () => {
  it("maps each negative errno to its TmemError code", () => {
    const table: Array<[number, string]> = [[-2, "ENOENT"], [-12, "ENOMEM"], [-16, "EBUSY"], [-22, "EINVAL"], [-28, "ENOSPC"], [-71, "EPROTO"], [-74, "EBADMSG"]];
    for (const [status, code] of table) {
      const e = statusError(status, "op");
      expect(e).toBeInstanceOf(TmemError);
      expect(e.code).toBe(code);
      expect(e.message).toContain("op");
    }
  });
  it("check passes non-negative values through and throws on negative ones", () => {
    expect(check(0, "x")).toBe(0);
    expect(check(41, "x")).toBe(41);
    expect(() => check(-12, "frame_alloc")).toThrowError(/ENOMEM/);
  });
  it("an unknown status is still a TmemError", () => {
    expect(statusError(-9999, "op").code).toBe(ErrorCode.EINVAL);
  });
});
