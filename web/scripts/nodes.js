// Turns /object_info definitions into LiteGraph node classes (contract §6).
import { LGraphNode, LiteGraph } from "@comfyorg/litegraph";
import { SEED_NAMES, addControlWidget, createWidget, imageUploadWidget, isWidgetSpec, widgetTypeOf } from "./widgets.js";

/** Link colours by type, close to ComfyUI's default palette. */
export const TYPE_COLORS = {
  MODEL: "#B39DDB", CLIP: "#FFD500", VAE: "#FF6E6E", CONDITIONING: "#FFA931", LATENT: "#FF9CF9",
  IMAGE: "#64B5F6", MASK: "#81C784", CONTROL_NET: "#00D78D", CLIP_VISION: "#A8DADC",
  CLIP_VISION_OUTPUT: "#ad7452", STYLE_MODEL: "#C2FFAE", UPSCALE_MODEL: "#5A7EC4", INT: "#7EC8A4",
  FLOAT: "#A3C7E8", STRING: "#E8C16A", BOOLEAN: "#E87A7A", NOISE: "#B0B0B0", SAMPLER: "#ECB4B4",
  SIGMAS: "#CDFFCD", GUIDER: "#66FFFF", AUDIO: "#9DD7F5",
};

export function orderedInputs(def) {
  const result = [];
  for (const section of ["required", "optional"]) {
    const specs = def.input?.[section] ?? {};
    const order = def.input_order?.[section] ?? Object.keys(specs);
    for (const name of order) {
      if (specs[name]) result.push({ name, spec: specs[name], optional: section === "optional" });
    }
  }
  return result;
}

/** Register one LiteGraph class per node definition. */
export function registerNodeDef(app, name, def) {
  class ComfyNode extends LGraphNode {
    static comfyClass = name;
    static nodeData = def;
    static title = def.display_name || name;

    constructor(title) {
      super(title);
      this.comfyClass = name;
      this.serialize_widgets = true;
      this.isVirtualNode = false;
      this.properties = { "Node name for S&R": name };
      buildSlots(this, def, app);
      const size = this.computeSize();
      size[0] = Math.max(size[0], this.minNodeWidth ?? 0);
      size[1] = Math.max(size[1], this.minNodeHeight ?? 0);
      this.setSize(size);
    }

    onConfigure(info) {
      ensureWidgetSockets(this);
      this.refreshImagePreview?.();
      super.onConfigure?.(info);
    }

    onRemoved() {
      for (const w of this.widgets ?? []) w.onRemove?.();
    }

    onDrawBackground(ctx) { app.drawNodeImages(this, ctx); }
    onDrawForeground(ctx) { app.drawNodeOverlay(this, ctx); }

    getExtraMenuOptions(canvas, options) { app.nodeMenuOptions(this, options); }
  }
  app.invokeExtensions("beforeRegisterNodeDef", ComfyNode, def, app);
  LiteGraph.registerNodeType(name, ComfyNode);
  ComfyNode.category = def.category ?? "sd";
  ComfyNode.description = def.description ?? "";
  return ComfyNode;
}

function buildSlots(node, def, app) {
  const inputs = orderedInputs(def);
  for (const { name, spec, optional } of inputs) {
    if (isWidgetSpec(spec)) continue;
    const type = Array.isArray(spec[0]) ? "COMBO" : String(spec[0]);
    const slot = node.addInput(name, type);
    if (optional) slot.shape = LiteGraph.CIRCLE_SHAPE;
    if (spec[1]?.tooltip) slot.tooltip = spec[1].tooltip;
    slot.localized_name = name;
  }
  for (const { name, spec } of inputs) {
    if (!isWidgetSpec(spec)) continue;
    const widget = createWidget(node, name, spec, app);
    if (!widget) continue;
    const opts = spec[1] ?? {};
    const slot = node.addInput(name, widgetTypeOf(spec), { widget: { name } });
    slot.localized_name = name;
    const type = widgetTypeOf(spec);
    if (type === "INT" && (opts.control_after_generate || SEED_NAMES.includes(name))) {
      addControlWidget(node, widget, opts.control_after_generate === true ? "randomize" :
        (opts.control_after_generate || "randomize"));
    }
    if (opts.image_upload || opts.upload === "image") imageUploadWidget(node, widget, app);
  }
  for (let i = 0; i < (def.output ?? []).length; i++) {
    const outType = def.output[i];
    const type = Array.isArray(outType) ? "COMBO" : String(outType);
    const outName = def.output_name?.[i] ?? type;
    const slot = node.addOutput(outName, type);
    slot.localized_name = outName;
    if (def.output_is_list?.[i]) slot.shape = LiteGraph.GRID_SHAPE;
    if (def.output_tooltips?.[i]) slot.tooltip = def.output_tooltips[i];
  }
  const multiline = node.widgets?.some((w) => w.type === "customtext");
  node.minNodeWidth = multiline ? 400 : 0;
  node.minNodeHeight = multiline ? 200 : 0;
}

/** Workflows from older frontends only carry sockets for converted widgets: add the missing ones. */
export function ensureWidgetSockets(node) {
  for (const widget of node.widgets ?? []) {
    if (widget.options?.serialize === false || widget.type === "button") continue;
    if (node.inputs?.some((i) => i.widget?.name === widget.name)) continue;
    const type = widget.type === "number" ? (widget.options.precision === 0 ? "INT" : "FLOAT")
      : widget.type === "toggle" ? "BOOLEAN" : widget.type === "combo" ? "COMBO" : "STRING";
    node.addInput(widget.name, type, { widget: { name: widget.name } });
  }
}

/** The widgets whose values go into the API prompt, in order. */
export function serializableWidgets(node) {
  return (node.widgets ?? []).filter((w) => w.options?.serialize !== false && w.type !== "button"
    && w.serialize !== false);
}
