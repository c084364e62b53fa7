// Build a graph from an API-format prompt (contract §10.4): nodes laid out by depth, widgets from inputs,
// links from [id, slot].
import { LiteGraph } from "@comfyorg/litegraph";

function depthOf(prompt) {
  const depth = {};
  const visit = (id, stack = new Set()) => {
    if (depth[id] !== undefined) return depth[id];
    if (stack.has(id) || !prompt[id]) return 0;
    stack.add(id);
    let d = 0;
    for (const v of Object.values(prompt[id].inputs ?? {})) {
      if (Array.isArray(v) && v.length === 2 && prompt[String(v[0])]) d = Math.max(d, visit(String(v[0]), stack) + 1);
    }
    stack.delete(id);
    depth[id] = d;
    return d;
  };
  Object.keys(prompt).forEach((id) => visit(id));
  return depth;
}

/** Populate `graph` (already cleared) from `prompt`; returns the class types that are not registered. */
export function loadApiPrompt(graph, prompt) {
  const missing = new Set();
  const nodes = {};
  const depth = depthOf(prompt);
  const columns = {};
  let nextId = 1;
  for (const id of Object.keys(prompt)) if (/^\d+$/.test(id)) nextId = Math.max(nextId, Number(id) + 1);
  for (const [id, data] of Object.entries(prompt)) {
    const node = LiteGraph.createNode(data.class_type);
    if (!node) { missing.add(data.class_type); continue; }
    node.id = /^\d+$/.test(id) ? Number(id) : nextId++;
    if (data._meta?.title) node.title = data._meta.title;
    const col = depth[id] ?? 0;
    const y = columns[col] ?? 0;
    graph.add(node);
    node.pos = [col * 420 + 40, y + 60];
    columns[col] = y + node.size[1] + 80;
    nodes[id] = node;
    for (const [name, value] of Object.entries(data.inputs ?? {})) {
      if (Array.isArray(value) && value.length === 2) continue;
      const widget = node.widgets?.find((w) => w.name === name);
      if (!widget) continue;
      widget.value = value && typeof value === "object" && "__value__" in value ? value.__value__ : value;
      widget.callback?.(widget.value);
      const control = widget.linkedWidgets?.[0];
      if (control) control.value = "fixed";
    }
  }
  for (const [id, data] of Object.entries(prompt)) {
    const target = nodes[id];
    if (!target) continue;
    for (const [name, value] of Object.entries(data.inputs ?? {})) {
      if (!Array.isArray(value) || value.length !== 2) continue;
      const source = nodes[String(value[0])];
      const slot = target.inputs?.findIndex((i) => i.name === name) ?? -1;
      if (source && slot >= 0) source.connect(Number(value[1]), target, slot);
    }
  }
  return [...missing];
}
