/** Build the browser demo into `outdir` (default build/web); resolves to outdir. */
export function buildWeb(outdir?: string): Promise<string>;
