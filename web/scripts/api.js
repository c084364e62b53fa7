// HTTP + WebSocket client for the ComfyUI API (contract §1, §2).
// Emits DOM CustomEvents named after WS message types ("status", "executing", "progress", ...),
// plus "b_preview", "b_preview_with_metadata", "progress_text" for binary frames and
// "reconnecting" / "reconnected" for the socket lifecycle.

const PREVIEW_IMAGE = 1;
const TEXT = 3;
const PREVIEW_IMAGE_WITH_METADATA = 4;
const IMAGE_MIME = { 1: "image/jpeg", 2: "image/png" };

/** Split one binary frame into an event name and its detail (contract §2.3). */
export function parseBinaryFrame(buffer) {
  const view = new DataView(buffer);
  const eventType = view.getUint32(0);
  if (eventType === PREVIEW_IMAGE) {
    const format = view.getUint32(4);
    const blob = new Blob([buffer.slice(8)], { type: IMAGE_MIME[format] || "image/jpeg" });
    return ["b_preview", blob];
  }
  if (eventType === PREVIEW_IMAGE_WITH_METADATA) {
    const length = view.getUint32(4);
    const meta = JSON.parse(new TextDecoder().decode(buffer.slice(8, 8 + length)));
    const blob = new Blob([buffer.slice(8 + length)], { type: meta.image_type || "image/jpeg" });
    return ["b_preview_with_metadata", {
      blob, nodeId: meta.node_id, displayNodeId: meta.display_node_id ?? meta.node_id,
      parentNodeId: meta.parent_node_id, realNodeId: meta.real_node_id, promptId: meta.prompt_id,
    }];
  }
  if (eventType === TEXT) {
    const length = view.getUint32(4);
    const decoder = new TextDecoder();
    const nodeId = decoder.decode(buffer.slice(8, 8 + length));
    const text = decoder.decode(buffer.slice(8 + length));
    return ["progress_text", { nodeId, text }];
  }
  return [null, null];
}

export class ComfyApi extends EventTarget {
  constructor() {
    super();
    const path = location.pathname;
    this.base = path.endsWith("/") ? path.slice(0, -1) : path.slice(0, path.lastIndexOf("/"));
    this.clientId = sessionStorage.getItem("comfy-core.clientId") || null;
    this.socket = null;
    this.connected = false;
    this.serverFeatures = {};
    this._closedByUs = false;
    this._reconnectDelay = 300;
  }

  apiURL(route) { return `${this.base}/api${route}`; }
  fileURL(route) { return `${this.base}${route}`; }

  async fetchApi(route, options = {}) {
    return fetch(this.apiURL(route), { cache: "no-cache", ...options });
  }

  async json(route, options) {
    const res = await this.fetchApi(route, options);
    if (!res.ok) throw new Error(`${options?.method || "GET"} ${route}: ${res.status}`);
    return res.json();
  }

  dispatch(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  // ---- WebSocket -------------------------------------------------------------------------------
  init() { this._closedByUs = false; this._connect(false); }

  close() {
    this._closedByUs = true;
    this.socket?.close();
  }

  _connect(isReconnect) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const query = this.clientId ? `?clientId=${encodeURIComponent(this.clientId)}` : "";
    const socket = new WebSocket(`${proto}//${location.host}${this.base}/ws${query}`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: true } }));
      this.connected = true;
      this._reconnectDelay = 300;
      if (isReconnect) this.dispatch("reconnected", null);
    });
    socket.addEventListener("message", (event) => this._onMessage(event));
    socket.addEventListener("close", () => {
      if (this.socket !== socket) return;
      const wasConnected = this.connected;
      this.connected = false;
      if (this._closedByUs) return;
      if (wasConnected || !isReconnect) this.dispatch("reconnecting", null);
      setTimeout(() => this._connect(true), this._reconnectDelay);
      this._reconnectDelay = Math.min(this._reconnectDelay * 2, 4000);
    });
  }

  _onMessage(event) {
    if (event.data instanceof ArrayBuffer) {
      const [type, detail] = parseBinaryFrame(event.data);
      if (type) this.dispatch(type, detail);
      return;
    }
    let msg;
    try { msg = JSON.parse(event.data); } catch { return; }
    if (!msg || typeof msg.type !== "string") return;
    if (msg.type === "status" && msg.data?.sid) {
      this.clientId = msg.data.sid;
      sessionStorage.setItem("comfy-core.clientId", this.clientId);
    }
    if (msg.type === "feature_flags") this.serverFeatures = msg.data || {};
    this.dispatch(msg.type, msg.data);
  }

  // ---- Routes ----------------------------------------------------------------------------------
  getNodeDefs() { return this.json("/object_info"); }
  getExtensions() { return this.json("/extensions"); }
  getEmbeddings() { return this.json("/embeddings"); }
  getSystemStats() { return this.json("/system_stats"); }
  getQueue() { return this.json("/queue"); }
  getHistory(maxItems = 64) { return this.json(`/history?max_items=${maxItems}`); }

  async getJobs({ status, limit = 50, offset = 0 } = {}) {
    const params = new URLSearchParams({ limit: String(limit), offset: String(offset) });
    if (status) params.set("status", status);
    return this.json(`/jobs?${params}`);
  }

  getJob(id) { return this.json(`/jobs/${encodeURIComponent(id)}`); }

  /** POST /prompt. Throws an Error carrying `.response` (the 400 body) on validation failure. */
  async queuePrompt(front, { output, workflow }, extra = {}) {
    const body = {
      client_id: this.clientId,
      prompt: output,
      extra_data: { extra_pnginfo: { workflow } },
      ...extra,
    };
    if (front) body.front = true;
    const res = await this.fetchApi("/prompt", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    if (res.status !== 200) {
      let response;
      try { response = await res.json(); } catch { response = { error: { message: await res.text() } }; }
      const err = new Error(response?.error?.message || `POST /prompt: ${res.status}`);
      err.response = response;
      throw err;
    }
    return res.json();
  }

  async postJson(route, body) {
    const res = await this.fetchApi(route, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST ${route}: ${res.status}`);
    return res;
  }

  interrupt(promptId) { return this.postJson("/interrupt", promptId ? { prompt_id: promptId } : {}); }
  deleteItem(kind, id) { return this.postJson(`/${kind}`, { delete: [id] }); }
  clearItems(kind) { return this.postJson(`/${kind}`, { clear: true }); }

  async uploadImage(file, { type = "input", subfolder = "", overwrite = false } = {}) {
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("type", type);
    if (subfolder) form.append("subfolder", subfolder);
    if (overwrite) form.append("overwrite", "true");
    const res = await this.fetchApi("/upload/image", { method: "POST", body: form });
    if (!res.ok) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** URL of an image served by /view (contract §1.3). */
  viewURL({ filename, subfolder = "", type = "output" }, extra = "") {
    const params = new URLSearchParams({ filename, subfolder, type });
    return this.apiURL(`/view?${params}${extra}`);
  }

  // ---- userdata (server-side workflows) --------------------------------------------------------
  async listUserData(dir) {
    const res = await this.fetchApi(`/userdata?dir=${encodeURIComponent(dir)}&recurse=true&split=false`);
    if (res.status === 404) return [];
    if (!res.ok) throw new Error(`list ${dir}: ${res.status}`);
    return res.json();
  }

  getUserData(file) { return this.fetchApi(`/userdata/${encodeURIComponent(file)}`); }

  async storeUserData(file, data, { overwrite = true } = {}) {
    const res = await this.fetchApi(`/userdata/${encodeURIComponent(file)}?overwrite=${overwrite}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: typeof data === "string" ? data : JSON.stringify(data),
    });
    if (!res.ok) throw new Error(`save ${file}: ${res.status}`);
    return res;
  }

  deleteUserData(file) {
    return this.fetchApi(`/userdata/${encodeURIComponent(file)}`, { method: "DELETE" });
  }
}

export const api = new ComfyApi();
