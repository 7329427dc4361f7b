/** Serve `root` on 127.0.0.1; /isolated/… with COOP/COEP, /plain/… without. */
export function serve(root: string, options?: { port?: number; isolatedRoot?: boolean }): Promise<{ url: string; close: () => Promise<void> }>;
