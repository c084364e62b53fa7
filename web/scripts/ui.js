// Page chrome: top bar, menus, side panel (queue / history / workflows), dialogs, shortcuts, drag and drop.
import { api } from "./api.js";
import { QueuePanel } from "./queue_panel.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function download(filename, text) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type: "application/json" })), download: filename });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 0);
}

export class ComfyUI {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.build();
    this.queuePanel = new QueuePanel(app, this.side);
  }

  build() {
    this.canvasEl = el("canvas", { id: "graph-canvas", tabindex: "1" });
    this.workflowLabel = el("span", { class: "comfy-workflow-name", text: "Unsaved workflow" });
    this.progressBar = el("div", { class: "comfy-progress-bar" });
    this.progressText = el("span", { class: "comfy-progress-text" });
    this.queueSize = el("span", { class: "comfy-queue-size", id: "queue-size", text: "Queue size: 0" });
    this.batch = el("input", { type: "number", min: "1", max: "100", value: "1", class: "comfy-batch", title: "Batch count" });
    this.menu = el("div", { class: "comfy-menu-dropdown hidden" });
    const menuButton = el("button", { id: "workflow-menu-button", onclick: (e) => { e.stopPropagation(); this.toggleMenu(); } }, "Workflow ▾");
    this.topbar = el("header", { class: "comfy-topbar" },
      el("span", { class: "comfy-logo", text: "comfy-core" }),
      el("div", { class: "comfy-menu" }, menuButton, this.menu),
      this.workflowLabel,
      el("div", { class: "comfy-spacer" }),
      el("div", { class: "comfy-progress", id: "overall-progress" }, this.progressBar, this.progressText),
      this.queueSize,
      this.batch,
      el("button", { id: "queue-button", class: "primary", title: "Ctrl+Enter", onclick: (e) => this.app.queuePrompt(e.shiftKey, { batchCount: this.batchCount() }) }, "Queue"),
      el("button", { id: "queue-front-button", title: "Ctrl+Shift+Enter", onclick: () => this.app.queuePrompt(true, { batchCount: this.batchCount() }) }, "Queue Front"),
      el("button", { id: "interrupt-button", title: "Interrupt the running prompt", onclick: () => api.interrupt() }, "Stop"),
      el("button", { id: "side-toggle", onclick: () => this.side.classList.toggle("hidden") }, "☰"));
    this.side = el("aside", { class: "comfy-side" });
    this.domLayer = el("div", { class: "comfy-dom-layer" });
    this.canvasWrap = el("div", { class: "comfy-canvas-wrap" }, this.canvasEl, this.domLayer);
    this.toasts = el("div", { class: "comfy-toasts" });
    this.banner = el("div", { class: "comfy-banner hidden", id: "reconnecting-banner", text: "Reconnecting to server…" });
    this.root.append(el("div", { class: "comfy-app" }, this.topbar,
      el("div", { class: "comfy-main" }, this.canvasWrap, this.side), this.toasts, this.banner));
    this.buildMenu();
    document.addEventListener("pointerdown", (e) => { if (!this.menu.contains(e.target)) this.menu.classList.add("hidden"); });
    window.addEventListener("resize", () => this.resizeCanvas());
    new ResizeObserver(() => this.resizeCanvas()).observe(this.canvasWrap);
  }

  batchCount() { return Math.max(1, Math.min(100, Number(this.batch.value) || 1)); }

  resizeCanvas() {
    const { app } = this;
    if (!app.canvas) return;
    const rect = this.canvasWrap.getBoundingClientRect();
    const dpr = Math.max(window.devicePixelRatio, 1);
    this.canvasEl.style.width = `${rect.width}px`;
    this.canvasEl.style.height = `${rect.height}px`;
    const w = Math.round(rect.width * dpr);
    const h = Math.round(rect.height * dpr);
    if (this.canvasEl.width !== w || this.canvasEl.height !== h) {
      this.canvasEl.width = w;
      this.canvasEl.height = h;
      this.canvasEl.getContext("2d").scale(dpr, dpr);
      app.canvas.setDirty(true, true);
    }
  }

  buildMenu() {
    const item = (id, label, shortcut, action) => el("div", { class: "comfy-menu-item", id, onclick: () => { this.menu.classList.add("hidden"); action(); } },
      el("span", { text: label }), el("span", { class: "shortcut", text: shortcut ?? "" }));
    this.menu.append(
      item("menu-new", "New", null, () => this.app.loadGraphData({ nodes: [], links: [], groups: [], version: 0.4, last_node_id: 0, last_link_id: 0, config: {}, extra: {} })),
      item("menu-open", "Open…", "Ctrl+O", () => this.openFile()),
      item("menu-save", "Save", "Ctrl+S", () => this.saveToServer(false)),
      item("menu-save-as", "Save As…", null, () => this.saveToServer(true)),
      item("menu-download", "Download JSON", null, () => this.downloadWorkflow()),
      item("menu-export-api", "Export (API)", null, () => this.exportApi()),
      item("menu-default", "Load Default", null, () => this.app.loadDefaultWorkflow()),
      item("menu-undo", "Undo", "Ctrl+Z", () => this.app.changeTracker.undo()),
      item("menu-redo", "Redo", "Ctrl+Y", () => this.app.changeTracker.redo()),
      item("menu-refresh", "Refresh node definitions", "R", () => this.app.refreshComboLists()));
  }

  toggleMenu() { this.menu.classList.toggle("hidden"); }

  setWorkflowName(name) {
    this.workflowLabel.textContent = name ? name : "Unsaved workflow";
    document.title = name ? `${name} - comfy-core` : "comfy-core";
  }

  openFile() {
    const input = el("input", { type: "file", accept: ".json,.png,.webp,application/json,image/png,image/webp", style: "display:none" });
    input.addEventListener("change", async () => {
      if (input.files?.length) await this.app.handleFile(input.files[0]);
      input.remove();
    });
    document.body.appendChild(input);
    input.click();
  }

  async saveToServer(askName) {
    let name = this.app.workflowName;
    if (askName || !name) {
      name = window.prompt("Save workflow as:", name ?? "workflow");
      if (!name) return;
    }
    name = name.replace(/\.json$/i, "");
    const workflow = this.app.serializeGraph();
    try {
      await api.storeUserData(`workflows/${name}.json`, JSON.stringify(workflow, null, 2));
      this.app.workflowName = name;
      this.setWorkflowName(name);
      this.app.persist();
      this.toast(`Saved workflows/${name}.json`, "info");
      this.queuePanel.refreshWorkflows();
    } catch (error) {
      this.toast(`Save failed (${error.message}); downloading instead`, "error");
      this.downloadWorkflow();
    }
  }

  downloadWorkflow() {
    const name = this.app.workflowName ?? "workflow";
    download(`${name}.json`, JSON.stringify(this.app.serializeGraph(), null, 2));
  }

  exportApi() {
    const name = this.app.workflowName ?? "workflow";
    download(`${name}_api.json`, JSON.stringify(this.app.graphToPrompt().output, null, 2));
  }

  setStatus(status) {
    const remaining = status?.exec_info?.queue_remaining ?? 0;
    this.queueSize.textContent = `Queue size: ${remaining}`;
    this.refreshQueue();
  }

  setConnection(connected) {
    this.banner.classList.toggle("hidden", connected);
    if (connected) this.toast("Reconnected", "info");
  }

  refreshQueue() { this.queuePanel?.refresh(); }

  updateProgress() {
    const { app } = this;
    const p = app.promptProgress;
    const np = app.nodeProgress;
    let fraction = 0;
    let text = "";
    if (p) {
      // execution_start can arrive over /ws before the POST /prompt answer that tells the prompt's size.
      p.total ??= app.promptSizes?.[p.promptId];
      const total = p.total ?? Math.max(p.done.size + 1, 1);
      const partial = np?.max ? np.value / np.max : 0;
      fraction = Math.min(1, (p.done.size + (app.runningNodeId != null ? partial : 0)) / total);
      const node = app.nodeForId(app.runningNodeId);
      text = `${Math.round(fraction * 100)}%`;
      if (node) text += ` · ${node.title}${np?.max ? ` ${np.value}/${np.max}` : ""}`;
    }
    this.progressBar.style.width = `${fraction * 100}%`;
    this.progressText.textContent = text;
    this.progressBar.parentElement.classList.toggle("active", Boolean(p));
  }

  toast(message, kind = "info") {
    const t = el("div", { class: `comfy-toast ${kind}`, text: message });
    this.toasts.appendChild(t);
    setTimeout(() => t.remove(), kind === "error" ? 10000 : 3000);
  }

  showExecutionError(d) {
    document.querySelector(".comfy-dialog")?.remove();
    const node = this.app.nodeForId(d.node_id);
    const body = el("pre", { class: "comfy-traceback", text: (d.traceback ?? []).join("") });
    const dialog = el("div", { class: "comfy-dialog", id: "execution-error-dialog" },
      el("h3", { text: `Error in node ${d.node_id}${node ? ` (${node.title})` : ""}: ${d.node_type ?? ""}` }),
      el("p", { class: "comfy-error-message", text: `${d.exception_type}: ${d.exception_message}` }),
      body,
      el("div", { class: "comfy-dialog-buttons" },
        el("button", { onclick: () => { if (node) { this.app.canvas.centerOnNode(node); this.app.canvas.selectItems([node]); } dialog.remove(); } }, "Show node"),
        el("button", { onclick: () => dialog.remove() }, "Close")));
    document.body.appendChild(dialog);
  }

  installShortcuts() {
    document.addEventListener("keydown", (e) => {
      const editable = e.target instanceof HTMLElement && (e.target.matches("input, textarea, select") || e.target.isContentEditable);
      const mod = e.ctrlKey || e.metaKey;
      const { app } = this;
      let handled = true;
      if (mod && e.key === "Enter") app.queuePrompt(e.shiftKey, { batchCount: this.batchCount() });
      else if (editable) handled = false;
      else if (mod && e.key.toLowerCase() === "s") this.saveToServer(e.shiftKey);
      else if (mod && e.key.toLowerCase() === "o") this.openFile();
      else if (mod && !e.shiftKey && e.key.toLowerCase() === "z") app.changeTracker.undo();
      else if (mod && (e.key.toLowerCase() === "y" || (e.shiftKey && e.key.toLowerCase() === "z"))) app.changeTracker.redo();
      else if (mod && e.key.toLowerCase() === "m") app.toggleMode(app.selectedNodes(), 2);
      else if (mod && e.key.toLowerCase() === "b") app.toggleMode(app.selectedNodes(), 4);
      else if (mod && e.key.toLowerCase() === "g") app.groupSelected();
      else if (!mod && e.key.toLowerCase() === "r" && !e.altKey) app.refreshComboLists();
      else if (e.key === "Escape") { document.querySelector(".comfy-dialog")?.remove(); handled = false; }
      else handled = false;
      if (handled) { e.preventDefault(); e.stopPropagation(); }
    }, true);
  }

  installDragAndDrop() {
    const { app } = this;
    document.addEventListener("dragover", (e) => { e.preventDefault(); });
    document.addEventListener("drop", async (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files?.[0];
      if (!file) return;
      // An image dropped on a node with an upload widget goes to that node (LoadImage).
      if (e.target === this.canvasEl) {
        app.canvas.adjustMouseEvent(e);
        const node = app.graph.getNodeOnPos(e.canvasX, e.canvasY);
        if (node?.onDragDrop && node.onDragOver?.(e) && node.onDragDrop(e)) return;
      }
      await app.handleFile(file);
    });
    document.addEventListener("paste", (e) => {
      const file = [...(e.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
      if (!file) return;
      const node = app.selectedNodes().find((n) => n.uploadImage);
      if (node) { node.uploadImage(file); e.preventDefault(); }
    });
  }
}
