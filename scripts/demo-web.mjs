// npm run demo:web: build the browser demo and serve it on 127.0.0.1 with
// COOP/COEP (cross-origin isolated), until interrupted. Port: $PORT or 8080.
// The same page without isolation is at /plain/ (it then runs on one thread).
import { buildWeb } from "./build-web.mjs";
import { serve } from "./serve.mjs";

const out = await buildWeb();
const port = Number(process.env.PORT ?? 8080);
const { url } = await serve(out, { port, isolatedRoot: true });
console.log(`tmem browser demo: ${url}/  (cross-origin isolated)`);
console.log(`without isolation:  ${url}/plain/index.html`);
console.log("Ctrl-C to stop.");
