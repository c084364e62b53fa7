// The editor application: boots LiteGraph, loads node definitions, runs prompts, hosts extensions.
import { LGraph, LGraphCanvas, LGraphEventMode, LGraphGroup, LiteGraph, SubgraphNode } from "@comfyorg/litegraph";
import { api } from "./api.js";
import { ChangeTracker } from "./changetracker.js";
import { loadApiPrompt } from "./loader.js";
import { readWorkflowFromFile } from "./metadata.js";
import { TYPE_COLORS, registerNodeDef } from "./nodes.js";
import { graphToPrompt } from "./prompt.js";
import { installSearchBox } from "./search.js";
import { installTooltips } from "./tooltips.js";
import { ComfyUI } from "./ui.js";
import { registerVirtualNodes } from "./virtual_nodes.js";

const STORAGE_KEY = "comfy-core.workflow";
const STORAGE_NAME_KEY = "comfy-core.workflowName";

export class ComfyApp {
  constructor() {
    this.api = api;
    this.extensions = [];
    this.nodeDefs = {};
    this.nodeOutputs = {};
    this.nodeErrors = {};
    this.executionError = null;
    this.runningNodeId = null;
    this.nodeProgress = null;
    this.promptProgress = null;
    this.domWidgets = new Set();
    this.frame = 0;
    this.workflowName = null;
    this.ready = false;
  }

  // ---- extensions ------------------------------------------------------------------------------
  registerExtension(extension) {
    if (!extension?.name) throw new Error("Extensions must have a 'name' property.");
    if (this.extensions.some((e) => e.name === extension.name)) {
      throw new Error(`Extension named '${extension.name}' already registered.`);
    }
    this.extensions.push(extension);
  }

  invokeExtensions(method, ...args) {
    const results = [];
    for (const ext of this.extensions) {
      if (typeof ext[method] !== "function") continue;
      try { results.push(ext[method](...args, this)); } catch (error) {
        console.error(`Error calling extension '${ext.name}' method '${method}'`, error);
      }
    }
    return results;
  }

  async invokeExtensionsAsync(method, ...args) {
    return Promise.all(this.extensions.map(async (ext) => {
      if (typeof ext[method] !== "function") return undefined;
      try { return await ext[method](...args, this); } catch (error) {
        console.error(`Error calling extension '${ext.name}' method '${method}'`, error);
        return undefined;
      }
    }));
  }

  async loadExtensions() {
    let urls = [];
    try { urls = await api.getExtensions(); } catch (error) { console.warn("no /extensions", error); }
    await Promise.all(urls.map(async (url) => {
      try { await import(api.fileURL(url)); } catch (error) { console.error(`Error loading extension ${url}`, error); }
    }));
  }

  // ---- start-up --------------------------------------------------------------------------------
  async setup(root = document.body) {
    this.ui = new ComfyUI(this, root);
    this.domLayer = this.ui.domLayer;
    this.configureLiteGraph();
    this.graph = new LGraph();
    this.canvasEl = this.ui.canvasEl;
    this.canvas = new LGraphCanvas(this.canvasEl, this.graph);
    this.canvas.allow_searchbox = true;
    this.canvas.getExtraMenuOptions = (canvas, options) => this.canvasMenuOptions(options);
    installSearchBox(this);
    installTooltips(this);
    this.watchGraphEvents();
    this.wrapCanvasDraw();
    this.ui.resizeCanvas();

    await this.loadExtensions();
    await this.invokeExtensionsAsync("init");
    await this.registerNodes();
    this.changeTracker = new ChangeTracker(this);
    await this.loadInitialGraph();
    this.installApiListeners();
    api.init();
    this.ui.installShortcuts();
    this.ui.installDragAndDrop();
    await this.invokeExtensionsAsync("setup");
    this.changeTracker.start();
    this.ready = true;
    this.ui.refreshQueue();
  }

  configureLiteGraph() {
    Object.assign(LiteGraph, {
      release_link_on_empty_shows_menu: true,
      alt_drag_do_clone_nodes: true,
      middle_click_slot_add_default_node: true,
      snaps_for_comfy: true,
      catch_exceptions: true,
      ctrl_shift_v_paste_connect_unselected_outputs: true,
    });
    Object.assign(LGraphCanvas.link_type_colors, TYPE_COLORS);
  }

  watchGraphEvents() {
    this.graph.events?.addEventListener?.("subgraph-created", (e) => {
      const { subgraph, data } = e.detail;
      const app = this;
      class ComfySubgraphNode extends SubgraphNode {
        constructor() { super(app.graph, subgraph, data); }
      }
      LiteGraph.registerNodeType(subgraph.id, ComfySubgraphNode);
    });
    const onNodeAdded = this.graph.onNodeAdded;
    this.graph.onNodeAdded = (node) => {
      onNodeAdded?.call(this.graph, node);
      if (!this.configuring) this.invokeExtensions("nodeCreated", node);
    };
  }

  /** Hide DOM widgets whose node was not drawn in the last frame (scrolled away, removed, collapsed). */
  wrapCanvasDraw() {
    const draw = this.canvas.drawFrontCanvas.bind(this.canvas);
    this.canvas.drawFrontCanvas = (...args) => {
      this.frame++;
      const result = draw(...args);
      for (const widget of this.domWidgets) {
        const node = this.graph.getNodeById(Number(widget.element.dataset.nodeId));
        if (!widget.element.isConnected) { this.domWidgets.delete(widget); continue; }
        if (widget.drawnFrame !== this.frame || !node || !node.widgets?.includes(widget)) {
          widget.element.style.display = "none";
        }
      }
      return result;
    };
  }

  async registerNodes() {
    const defs = await api.getNodeDefs();
    await this.invokeExtensionsAsync("addCustomNodeDefs", defs);
    this.nodeDefs = defs;
    for (const [name, def] of Object.entries(defs)) {
      try { registerNodeDef(this, name, def); } catch (error) { console.error(`node ${name}`, error); }
    }
    registerVirtualNodes(this);
    await this.invokeExtensionsAsync("registerCustomNodes");
  }

  async refreshComboLists() {
    const defs = await api.getNodeDefs();
    this.nodeDefs = defs;
    for (const node of this.graph._nodes) {
      const def = defs[node.comfyClass];
      if (!def) continue;
      for (const w of node.widgets ?? []) {
        if (w.type !== "combo") continue;
        const spec = def.input?.required?.[w.name] ?? def.input?.optional?.[w.name];
        if (!spec) continue;
        w.options.values = Array.isArray(spec[0]) ? spec[0] : (spec[1]?.options ?? w.options.values);
      }
    }
    this.graph.setDirtyCanvas(true, true);
  }

  async loadInitialGraph() {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved) {
      try {
        await this.loadGraphData(JSON.parse(saved), { name: localStorage.getItem(STORAGE_NAME_KEY) });
        return;
      } catch (error) { console.error("stored workflow failed to load", error); }
    }
    await this.loadDefaultWorkflow();
  }

  async loadDefaultWorkflow() {
    const res = await fetch(api.fileURL("/default_workflow.json"), { cache: "no-cache" });
    const workflow = await res.json();
    await this.loadGraphData(workflow, { name: null, fixCombos: true });
  }

  // ---- graph I/O -------------------------------------------------------------------------------
  /** Load a UI workflow (schema 0.4 or 1). `fixCombos` picks the first option for unknown combo values. */
  async loadGraphData(workflow, { name = null, fixCombos = false, keepView = false } = {}) {
    this.clearNodeState();
    this.configuring = true;
    const missing = new Set();
    try {
      for (const n of workflow.nodes ?? []) {
        if (!LiteGraph.registered_node_types[n.type] && !workflow.definitions?.subgraphs?.some((s) => s.id === n.type)) {
          missing.add(n.type);
        }
      }
      const ds = keepView ? this.canvas.ds.offset.slice() : null;
      const scale = this.canvas.ds.scale;
      this.graph.clear();
      this.graph.configure(structuredClone(workflow));
      if (keepView) { this.canvas.ds.offset = ds; this.canvas.ds.scale = scale; }
      else if (workflow.extra?.ds) {
        this.canvas.ds.offset = [...workflow.extra.ds.offset];
        this.canvas.ds.scale = workflow.extra.ds.scale;
      } else { this.canvas.ds.offset = [0, 0]; this.canvas.ds.scale = 1; }
    } finally { this.configuring = false; }
    for (const node of this.graph._nodes) {
      node.onAfterGraphConfigured?.();
      if (fixCombos) {
        for (const w of node.widgets ?? []) {
          const values = w.options?.values;
          if (w.type === "combo" && Array.isArray(values) && values.length && !values.includes(w.value)) w.value = values[0];
        }
      }
      this.invokeExtensions("loadedGraphNode", node);
    }
    this.workflowName = name;
    this.ui?.setWorkflowName(name);
    this.canvas.setDirty(true, true);
    await this.invokeExtensionsAsync("afterConfigureGraph", [...missing]);
    if (missing.size) this.ui?.toast(`Missing node types: ${[...missing].join(", ")}`, "error");
    this.changeTracker?.reset();
    return [...missing];
  }

  async loadApiJson(prompt, { name = null } = {}) {
    this.clearNodeState();
    this.graph.clear();
    this.configuring = true;
    let missing;
    try { missing = loadApiPrompt(this.graph, prompt); } finally { this.configuring = false; }
    this.canvas.ds.offset = [0, 0];
    this.canvas.ds.scale = 1;
    this.workflowName = name;
    this.ui?.setWorkflowName(name);
    this.canvas.setDirty(true, true);
    if (missing.length) this.ui?.toast(`Missing node types: ${missing.join(", ")}`, "error");
    this.changeTracker?.reset();
  }

  serializeGraph() { return this.graph.serialize(); }

  async handleFile(file) {
    const data = await readWorkflowFromFile(file);
    const name = file.name.replace(/\.[^.]+$/, "");
    if (data?.workflow?.nodes) return this.loadGraphData(data.workflow, { name });
    if (data?.prompt) return this.loadApiJson(data.prompt, { name });
    this.ui.toast(`No workflow found in ${file.name}`, "error");
    return null;
  }

  graphToPrompt(options) { return graphToPrompt(this.graph, options); }

  persist() {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(this.serializeGraph()));
      if (this.workflowName) localStorage.setItem(STORAGE_NAME_KEY, this.workflowName);
      else localStorage.removeItem(STORAGE_NAME_KEY);
    } catch (error) { console.warn("could not store workflow", error); }
  }

  graphChanged() { this.graph?.setDirtyCanvas(true, true); }

  // ---- running ---------------------------------------------------------------------------------
  async queuePrompt(front = false, { batchCount = 1, onlyOutputs = null } = {}) {
    this.clearErrors();
    let lastResult = null;
    for (let i = 0; i < batchCount; i++) {
      const p = this.graphToPrompt({ onlyOutputs });
      const extra = onlyOutputs ? { partial_execution_targets: onlyOutputs.map(String) } : {};
      try {
        lastResult = await api.queuePrompt(front, p, extra);
        if (lastResult.node_errors && Object.keys(lastResult.node_errors).length) this.showNodeErrors(lastResult.node_errors);
        this.promptSizes ??= {};
        this.promptSizes[lastResult.prompt_id] = Object.keys(p.output).length;
      } catch (error) {
        const response = error.response;
        if (response?.node_errors && Object.keys(response.node_errors).length) this.showNodeErrors(response.node_errors);
        const message = response?.error?.message ?? error.message;
        const details = response?.error?.details ? `: ${response.error.details}` : "";
        this.ui.toast(`Prompt rejected — ${message}${details}`, "error");
        this.canvas.setDirty(true, true);
        return null;
      }
      for (const node of this.graph._nodes) {
        for (const w of node.widgets ?? []) w.afterQueued?.();
      }
      this.invokeExtensions("afterQueued", lastResult);
    }
    this.ui.refreshQueue();
    this.canvas.setDirty(true, true);
    return lastResult;
  }

  clearErrors() {
    this.nodeErrors = {};
    this.executionError = null;
    for (const node of this.graph._nodes) {
      node.has_errors = false;
      for (const input of node.inputs ?? []) input.hasErrors = false;
    }
  }

  /** Mark nodes and inputs named by a 400 `node_errors` object (contract §3.3). */
  showNodeErrors(nodeErrors) {
    this.nodeErrors = nodeErrors;
    for (const [id, info] of Object.entries(nodeErrors)) {
      const node = this.graph.getNodeById(Number(id)) ?? this.graph.getNodeById(id);
      if (!node) continue;
      node.has_errors = true;
      for (const err of info.errors ?? []) {
        const inputName = err.extra_info?.input_name;
        const input = inputName && node.inputs?.find((i) => i.name === inputName || i.widget?.name === inputName);
        if (input) input.hasErrors = true;
      }
    }
    this.canvas.setDirty(true, true);
  }

  clearNodeState() {
    this.nodeOutputs = {};
    this.nodeErrors = {};
    this.executionError = null;
    this.runningNodeId = null;
    this.nodeProgress = null;
  }

  nodeForId(id) {
    if (id == null) return null;
    const root = String(id).split(":")[0];
    return this.graph.getNodeById(Number(root)) ?? this.graph.getNodeById(root);
  }

  setNodeImages(nodeId, images) {
    const node = this.nodeForId(nodeId);
    if (!node) return;
    const loaded = [];
    let pending = images.length;
    images.forEach((src, index) => {
      const img = new Image();
      img.onload = img.onerror = () => {
        if (img.naturalWidth) loaded[index] = img;
        if (--pending === 0) {
          node.imgs = loaded.filter(Boolean);
          this.ensureImageSpace(node);
          this.canvas.setDirty(true, true);
        }
      };
      img.src = src;
    });
  }

  ensureImageSpace(node) {
    const minHeight = this.imageTop(node) + 220;
    if (node.size[1] < minHeight) node.setSize([Math.max(node.size[0], 256), minHeight]);
  }

  imageTop(node) {
    let top = (node.inputs?.filter((i) => !i.widget).length ?? 0) * LiteGraph.NODE_SLOT_HEIGHT;
    top = Math.max(top, (node.outputs?.length ?? 0) * LiteGraph.NODE_SLOT_HEIGHT) + 8;
    for (const w of node.widgets ?? []) {
      if (w.y != null) top = Math.max(top, w.y + (w.computedHeight ?? LiteGraph.NODE_WIDGET_HEIGHT + 4));
    }
    return top + 4;
  }

  installApiListeners() {
    api.addEventListener("status", (e) => this.ui.setStatus(e.detail?.status));
    api.addEventListener("execution_start", (e) => {
      this.executionError = null;
      this.promptProgress = { promptId: e.detail.prompt_id, done: new Set(), total: this.promptSizes?.[e.detail.prompt_id] };
      this.ui.updateProgress();
    });
    api.addEventListener("execution_cached", (e) => {
      for (const id of e.detail.nodes ?? []) this.promptProgress?.done.add(String(id));
      this.ui.updateProgress();
    });
    api.addEventListener("executing", (e) => {
      const { node } = e.detail ?? {};
      const display = e.detail?.display_node ?? node;
      this.runningNodeId = display ?? null;
      this.nodeProgress = null;
      if (node == null) {
        this.promptProgress = null;
        this.ui.refreshQueue();
      }
      this.ui.updateProgress();
      this.canvas.setDirty(true, false);
    });
    api.addEventListener("progress", (e) => {
      this.nodeProgress = { value: e.detail.value, max: e.detail.max, node: e.detail.node };
      this.ui.updateProgress();
      this.canvas.setDirty(true, false);
    });
    api.addEventListener("progress_state", (e) => {
      if (!this.promptProgress) return;
      for (const [id, st] of Object.entries(e.detail.nodes ?? {})) {
        if (st.state === "finished") this.promptProgress.done.add(String(id));
      }
      this.ui.updateProgress();
    });
    api.addEventListener("executed", (e) => {
      const { node, display_node: display, output } = e.detail;
      const id = display ?? node;
      this.nodeOutputs[id] = output;
      this.promptProgress?.done.add(String(node));
      const images = output?.images ?? [];
      if (images.length) this.setNodeImages(id, images.map((img) => api.viewURL(img, `&rand=${Math.random()}`)));
      this.ui.updateProgress();
    });
    const onPreview = (nodeId, blob) => {
      const node = this.nodeForId(nodeId);
      if (!node) return;
      const url = URL.createObjectURL(blob);
      const img = new Image();
      img.onload = () => {
        if (node.previewUrl) URL.revokeObjectURL(node.previewUrl);
        node.previewUrl = url;
        node.imgs = [img];
        this.ensureImageSpace(node);
        this.canvas.setDirty(true, false);
      };
      img.src = url;
    };
    api.addEventListener("b_preview", (e) => onPreview(this.runningNodeId, e.detail));
    api.addEventListener("b_preview_with_metadata", (e) => onPreview(e.detail.displayNodeId, e.detail.blob));
    api.addEventListener("execution_error", (e) => {
      const d = e.detail;
      if (d.exception_type === "ExecutionBlocked") return;
      this.executionError = d;
      const node = this.nodeForId(d.node_id);
      if (node) node.has_errors = true;
      this.ui.showExecutionError(d);
      this.canvas.setDirty(true, true);
    });
    api.addEventListener("execution_interrupted", () => {
      this.promptProgress = null;
      this.ui.toast("Interrupted", "info");
    });
    api.addEventListener("execution_success", () => this.ui.refreshQueue());
    api.addEventListener("reconnecting", () => this.ui.setConnection(false));
    api.addEventListener("reconnected", async () => {
      this.ui.setConnection(true);
      this.ui.refreshQueue();
    });
  }

  // ---- drawing hooks -----------------------------------------------------------------------------
  drawNodeImages(node, ctx) {
    const imgs = node.imgs;
    if (!imgs?.length || node.flags?.collapsed) return;
    const top = this.imageTop(node);
    const w = node.size[0] - 16;
    const h = node.size[1] - top - 8;
    if (w <= 0 || h <= 0) return;
    const cols = Math.ceil(Math.sqrt(imgs.length));
    const rows = Math.ceil(imgs.length / cols);
    const cw = w / cols;
    const ch = h / rows;
    imgs.forEach((img, i) => {
      const scale = Math.min(cw / img.naturalWidth, ch / img.naturalHeight);
      const dw = img.naturalWidth * scale;
      const dh = img.naturalHeight * scale;
      const x = 8 + (i % cols) * cw + (cw - dw) / 2;
      const y = top + Math.floor(i / cols) * ch + (ch - dh) / 2;
      ctx.drawImage(img, x, y, dw, dh);
    });
    if (imgs.length === 1 && imgs[0].naturalWidth) {
      ctx.fillStyle = "#aaa";
      ctx.font = "10px sans-serif";
      ctx.textAlign = "center";
      ctx.fillText(`${imgs[0].naturalWidth} × ${imgs[0].naturalHeight}`, node.size[0] / 2, node.size[1] - 2);
    }
  }

  drawNodeOverlay(node, ctx) {
    const titleH = LiteGraph.NODE_TITLE_HEIGHT;
    const [w, h] = node.size;
    const collapsed = node.flags?.collapsed;
    const width = collapsed ? (node._collapsed_width ?? LiteGraph.NODE_COLLAPSED_WIDTH) : w;
    const height = collapsed ? 0 : h;
    if (node.mode === LGraphEventMode.NEVER || node.mode === LGraphEventMode.BYPASS) {
      ctx.fillStyle = node.mode === LGraphEventMode.BYPASS ? "rgba(255,0,255,0.25)" : "rgba(30,30,30,0.55)";
      ctx.fillRect(0, -titleH, width, height + titleH);
    }
    const running = this.runningNodeId != null && String(this.runningNodeId) === String(node.id);
    const errored = this.executionError && String(this.executionError.node_id) === String(node.id);
    if (running || errored) {
      ctx.lineWidth = running ? 3 : 2.5;
      ctx.strokeStyle = errored ? "#ff3030" : "#00ff00";
      ctx.strokeRect(-3, -titleH - 3, width + 6, height + titleH + 6);
    }
    if (running && this.nodeProgress?.max) {
      ctx.fillStyle = "#4caf50";
      ctx.fillRect(0, 0, width * (this.nodeProgress.value / this.nodeProgress.max), 4);
    }
    const errors = this.nodeErrors[String(node.id)]?.errors;
    if (errors?.length && !collapsed) {
      ctx.fillStyle = "#ff6060";
      ctx.font = "12px sans-serif";
      ctx.textAlign = "left";
      errors.forEach((err, i) => {
        const input = err.extra_info?.input_name ? `${err.extra_info.input_name}: ` : "";
        ctx.fillText(`${input}${err.message}${err.details ? ` — ${err.details}` : ""}`, 0, height + 16 + i * 15);
      });
    }
  }

  // ---- menus -----------------------------------------------------------------------------------
  canvasMenuOptions(options) {
    options.push(null, { content: "Queue Prompt", callback: () => this.queuePrompt(false) },
      { content: "Refresh node definitions", callback: () => this.refreshComboLists() });
  }

  nodeMenuOptions(node, options) {
    options.unshift(
      { content: node.mode === LGraphEventMode.NEVER ? "Unmute" : "Mute", callback: () => this.toggleMode([node], LGraphEventMode.NEVER) },
      { content: node.mode === LGraphEventMode.BYPASS ? "Remove Bypass" : "Bypass", callback: () => this.toggleMode([node], LGraphEventMode.BYPASS) },
      null);
    if (node.constructor.nodeData?.output_node) {
      options.unshift({ content: "Queue selected output nodes", callback: () => this.queueSelectedOutputs() });
    }
  }

  selectedNodes() { return Object.values(this.canvas.selected_nodes ?? {}); }

  toggleMode(nodes, mode) {
    if (!nodes.length) return;
    const allSet = nodes.every((n) => n.mode === mode);
    for (const n of nodes) n.mode = allSet ? LGraphEventMode.ALWAYS : mode;
    this.canvas.setDirty(true, true);
    this.graph.change();
  }

  queueSelectedOutputs() {
    const ids = this.selectedNodes().filter((n) => n.constructor.nodeData?.output_node).map((n) => n.id);
    if (ids.length) this.queuePrompt(false, { onlyOutputs: ids });
  }

  groupSelected() {
    const nodes = this.selectedNodes();
    if (!nodes.length) return null;
    const group = new LGraphGroup("Group");
    group.resizeTo(nodes, 10);
    this.graph.add(group);
    this.canvas.setDirty(true, true);
    return group;
  }
}

export const app = new ComfyApp();
