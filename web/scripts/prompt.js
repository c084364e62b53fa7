// UI graph -> API prompt (contract §10.3).
import { ExecutableNodeDTO, LGraphEventMode } from "@comfyorg/litegraph";
import { serializableWidgets } from "./nodes.js";

const ILLEGAL_FILENAME_CHARS = /[/?<>\\:*|"\x00-\x1F\x7F]/g;

function pad(n, width = 2) { return String(n).padStart(width, "0"); }

/** Expand `%date:FORMAT%` and `%Node.widget%` tokens in a filename_prefix value. */
export function applyTextReplacements(graph, value) {
  return value.replace(/%([^%]+)%/g, (match, text) => {
    if (text.startsWith("date:")) {
      const d = new Date();
      const parts = { yyyy: d.getFullYear(), yy: pad(d.getFullYear() % 100), MM: pad(d.getMonth() + 1),
        M: d.getMonth() + 1, dd: pad(d.getDate()), d: d.getDate(), hh: pad(d.getHours()), h: d.getHours(),
        mm: pad(d.getMinutes()), m: d.getMinutes(), ss: pad(d.getSeconds()), s: d.getSeconds() };
      return text.slice(5).replace(/yyyy|yy|MM|M|dd|d|hh|h|mm|m|ss|s/g, (k) => String(parts[k]));
    }
    const dot = text.lastIndexOf(".");
    if (dot < 0) return match;
    const nodeName = text.slice(0, dot);
    const widgetName = text.slice(dot + 1);
    const nodes = graph._nodes.filter((n) => n.properties?.["Node name for S&R"] === nodeName
      || n.title === nodeName);
    if (nodes.length !== 1) return match;
    const widget = nodes[0].widgets?.find((w) => w.name === widgetName);
    if (!widget) return match;
    return String(widget.value).replace(ILLEGAL_FILENAME_CHARS, "_");
  });
}

function collectExecutableNodes(graph) {
  const byId = new Map();
  for (const node of graph.computeExecutionOrder(false)) {
    const dto = new ExecutableNodeDTO(node, [], byId, undefined);
    byId.set(dto.id, dto);
    if (node.isSubgraphNode?.()) {
      for (const inner of dto.getInnerNodes()) byId.set(inner.id, inner);
    }
  }
  return byId;
}

function widgetValue(node, widget, graph) {
  let value = widget.serializeValue ? widget.serializeValue(node) : widget.value;
  if (widget.name === "filename_prefix" && typeof value === "string") value = applyTextReplacements(graph, value);
  if (Array.isArray(value)) value = { __value__: value };
  return value;
}

/**
 * Convert the live graph to `{workflow, output}`: workflow = UI JSON (schema 0.4),
 * output = API prompt `{id: {inputs, class_type, _meta}}`.
 */
export function graphToPrompt(graph, { onlyOutputs = null } = {}) {
  for (const node of graph.computeExecutionOrder(false)) {
    if (node.isVirtualNode) node.applyToGraph?.();
  }
  const workflow = graph.serialize({ sortNodes: true });
  const byId = collectExecutableNodes(graph);
  const output = {};
  for (const [id, dto] of byId) {
    const { node } = dto;
    if (dto.isVirtualNode || node.isSubgraphNode?.()) continue;
    if (dto.mode === LGraphEventMode.NEVER || dto.mode === LGraphEventMode.BYPASS) continue;
    if (!node.comfyClass) continue;
    const inputs = {};
    for (const widget of serializableWidgets(node)) inputs[widget.name] = widgetValue(node, widget, graph);
    node.inputs?.forEach((input, slot) => {
      if (input.link == null) return;
      const resolved = dto.resolveInput(slot);
      if (!resolved) {
        if (!input.widget) delete inputs[input.name];
        return;
      }
      if (resolved.widgetInfo) { inputs[input.name] = resolved.widgetInfo.value; return; }
      inputs[input.name] = [String(resolved.origin_id), Number(resolved.origin_slot)];
    });
    output[String(id)] = { inputs, class_type: node.comfyClass, _meta: { title: node.title } };
  }
  // Links to nodes that are not part of the prompt (muted, virtual) are dropped (§10.3 step 7).
  for (const entry of Object.values(output)) {
    for (const [name, value] of Object.entries(entry.inputs)) {
      if (Array.isArray(value) && value.length === 2 && !output[value[0]]) delete entry.inputs[name];
    }
  }
  if (onlyOutputs) {
    const keep = new Set();
    const visit = (id) => {
      if (keep.has(id) || !output[id]) return;
      keep.add(id);
      for (const v of Object.values(output[id].inputs)) if (Array.isArray(v)) visit(v[0]);
    };
    onlyOutputs.forEach((id) => visit(String(id)));
    for (const id of Object.keys(output)) if (!keep.has(id)) delete output[id];
  }
  return { workflow, output };
}
