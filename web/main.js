// Entry point. `window.app` / `window.api` mirror ComfyUI's globals for scripts and tests.
import { api } from "./scripts/api.js";
import { app } from "./scripts/app.js";

window.app = app;
window.api = api;
app.setup(document.body).catch((error) => {
  console.error("editor failed to start", error);
  const pre = document.createElement("pre");
  pre.className = "comfy-fatal";
  pre.textContent = `The editor failed to start: ${error?.stack ?? error}`;
  document.body.appendChild(pre);
});
