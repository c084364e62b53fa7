// Node search dialog: opened by double-click on the canvas or by releasing a link on empty space.
import { LiteGraph } from "@comfyorg/litegraph";

function typeMatches(slotType, wanted) {
  if (!wanted || wanted === "*") return true;
  return LiteGraph.isValidConnection(slotType, wanted);
}

/** Rank registered node types against a query; optional type filters for link-release context. */
export function searchNodes(query, { inputType = null, outputType = null, limit = 60 } = {}) {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  const results = [];
  for (const [type, cls] of Object.entries(LiteGraph.registered_node_types)) {
    if (cls.skip_list) continue;
    const def = cls.nodeData;
    const title = String(cls.title ?? type);
    const haystack = `${title} ${type} ${cls.category ?? ""}`.toLowerCase();
    if (!terms.every((t) => haystack.includes(t))) continue;
    if (inputType) {
      const inputs = def ? Object.values({ ...def.input?.required, ...def.input?.optional })
        .map((s) => (Array.isArray(s[0]) ? "COMBO" : s[0])) : (type === "Reroute" ? ["*"] : []);
      if (!inputs.some((t) => typeMatches(t, inputType))) continue;
    }
    if (outputType) {
      const outputs = def ? def.output ?? [] : (type === "Reroute" ? ["*"] : []);
      if (!outputs.some((t) => typeMatches(Array.isArray(t) ? "COMBO" : t, outputType))) continue;
    }
    const q = terms.join(" ");
    let score = 0;
    const lowerTitle = title.toLowerCase();
    if (lowerTitle === q || type.toLowerCase() === q) score += 100;
    if (lowerTitle.startsWith(q)) score += 50;
    if (lowerTitle.includes(q)) score += 20;
    score -= title.length / 100;
    results.push({ type, title, category: cls.category ?? "", description: cls.description ?? "", score });
  }
  results.sort((a, b) => b.score - a.score || a.title.localeCompare(b.title));
  return results.slice(0, limit);
}

export function installSearchBox(app) {
  const canvas = app.canvas;
  canvas.showSearchBox = (event, options = {}) => openSearch(app, event, options);
}

function openSearch(app, event, options) {
  document.querySelector(".comfy-search")?.remove();
  const canvas = app.canvas;
  const graphPos = canvas.convertEventToCanvasOffset(event);
  const box = document.createElement("div");
  box.className = "comfy-search";
  box.innerHTML = `<input type="text" class="comfy-search-input" placeholder="Search nodes…" autocomplete="off">
    <div class="comfy-search-body"><ul class="comfy-search-results"></ul><div class="comfy-search-desc"></div></div>`;
  box.style.left = `${Math.min(event.clientX, window.innerWidth - 620)}px`;
  box.style.top = `${Math.min(event.clientY, window.innerHeight - 420)}px`;
  document.body.appendChild(box);
  const input = box.querySelector("input");
  const list = box.querySelector("ul");
  const desc = box.querySelector(".comfy-search-desc");
  const inputType = options.type_filter_in ?? null;   // dragging from an output: the new node needs this input
  const outputType = options.type_filter_out ?? null; // dragging from an input: the new node needs this output
  let results = [];
  let selected = 0;

  const close = () => { box.remove(); document.removeEventListener("pointerdown", outside, true); };
  const outside = (e) => { if (!box.contains(e.target)) close(); };
  document.addEventListener("pointerdown", outside, true);

  const render = () => {
    list.innerHTML = "";
    results.forEach((r, i) => {
      const li = document.createElement("li");
      li.className = `comfy-search-item${i === selected ? " selected" : ""}`;
      li.dataset.type = r.type;
      li.innerHTML = `<span class="title"></span><span class="category"></span>`;
      li.querySelector(".title").textContent = r.title;
      li.querySelector(".category").textContent = r.category;
      li.addEventListener("pointerdown", (e) => { e.preventDefault(); choose(i); });
      li.addEventListener("pointerenter", () => { selected = i; showDesc(); });
      list.appendChild(li);
    });
    showDesc();
  };
  const showDesc = () => {
    list.querySelectorAll("li").forEach((li, i) => li.classList.toggle("selected", i === selected));
    const r = results[selected];
    desc.textContent = r ? `${r.title} (${r.type})\n${r.category}\n\n${r.description || ""}` : "No matching nodes";
    list.children[selected]?.scrollIntoView({ block: "nearest" });
  };
  const update = () => {
    results = searchNodes(input.value, { inputType, outputType });
    selected = 0;
    render();
  };
  const choose = (i) => {
    const r = results[i];
    if (!r) return;
    close();
    const node = LiteGraph.createNode(r.type);
    if (!node) return;
    node.pos = [graphPos[0], graphPos[1]];
    app.graph.add(node);
    connectToContext(node, options);
    canvas.selectItems([node]);
    canvas.setDirty(true, true);
    app.changeTracker?.checkState();
  };
  input.addEventListener("input", update);
  input.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.key === "ArrowDown") { selected = Math.min(selected + 1, results.length - 1); showDesc(); e.preventDefault(); }
    else if (e.key === "ArrowUp") { selected = Math.max(selected - 1, 0); showDesc(); e.preventDefault(); }
    else if (e.key === "Enter") { choose(selected); e.preventDefault(); }
    else if (e.key === "Escape") { close(); e.preventDefault(); }
  });
  update();
  setTimeout(() => input.focus(), 0);
}

function connectToContext(node, options) {
  const from = options.node_from;
  if (from && options.slot_from != null) {
    const index = typeof options.slot_from === "number" ? options.slot_from : from.outputs.indexOf(options.slot_from);
    const type = from.outputs[index]?.type;
    const target = node.inputs?.findIndex((i) => typeMatches(i.type, type));
    if (index >= 0 && target >= 0) from.connect(index, node, target);
  }
  const to = options.node_to;
  if (to && options.slot_to != null) {
    const index = typeof options.slot_to === "number" ? options.slot_to : to.inputs.indexOf(options.slot_to);
    const type = to.inputs[index]?.type;
    const source = node.outputs?.findIndex((o) => typeMatches(o.type, type));
    if (index >= 0 && source >= 0) node.connect(source, to, index);
  }
}
