// Find and launch Debian's Chromium headless through playwright-core.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Path of a Chromium binary, or null when none is installed. */
export function chromiumPath(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

/** Launch headless Chromium with the flags this machine needs (closed network, root). */
export function launch(path: string): Promise<Browser> {
  return chromium.launch({
    executablePath: path,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}
