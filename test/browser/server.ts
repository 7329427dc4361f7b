// The tests' static server: the same one the browser demo uses.
export { serve } from "../../scripts/serve.mjs";
