// Frontend-only nodes: they never reach the API prompt (contract §10.3 step 1).
import { LGraphNode, LiteGraph } from "@comfyorg/litegraph";
import { addControlWidget, multilineWidget, roundValue } from "./widgets.js";

export function registerVirtualNodes(app) {
  class NoteNode extends LGraphNode {
    static title = "Note";
    static collapsable = true;
    constructor(title) {
      super(title);
      this.isVirtualNode = true;
      this.serialize_widgets = true;
      this.color = "#432";
      this.bgcolor = "#653";
      this.properties = { text: "" };
      multilineWidget(this, "", { default: "", placeholder: "note" }, app);
      this.setSize([400, 200]);
    }
    onRemoved() { for (const w of this.widgets ?? []) w.onRemove?.(); }
  }
  class MarkdownNoteNode extends NoteNode { static title = "Markdown Note"; }

  class RerouteNode extends LGraphNode {
    static title = "Reroute";
    constructor(title) {
      super(title);
      this.isVirtualNode = true;
      this.properties = { showOutputText: false, horizontal: false };
      this.addInput("", "*");
      this.addOutput("", "*");
      this.setSize([75, 26]);
    }
    computeSize() { return [75, 26]; }
    onConnectionsChange() {
      // The output takes the type of whatever feeds the input, so type checking still works downstream.
      const link = this.graph?.getLink(this.inputs[0]?.link);
      const origin = link ? this.graph.getNodeById(link.origin_id) : null;
      const type = origin?.outputs?.[link.origin_slot]?.type ?? "*";
      this.outputs[0].type = type;
      this.inputs[0].type = "*";
    }
  }
  RerouteNode.title_mode = LiteGraph.NO_TITLE;

  class PrimitiveNode extends LGraphNode {
    static title = "Primitive";
    constructor(title) {
      super(title);
      this.isVirtualNode = true;
      this.serialize_widgets = true;
      this.properties = { "Run widget replace on values": false };
      this.addOutput("connect to widget input", "*");
    }
    /** Copy our value into every widget we feed, before the prompt is built. */
    applyToGraph() {
      const value = this.widgets?.[0]?.value;
      if (value === undefined) return;
      for (const linkId of this.outputs[0].links ?? []) {
        const link = this.graph.getLink(linkId);
        const target = link && this.graph.getNodeById(link.target_id);
        const input = target?.inputs?.[link.target_slot];
        const widget = input?.widget && target.widgets?.find((w) => w.name === input.widget.name);
        if (widget) { widget.value = value; widget.callback?.(value); }
      }
    }
    onConnectionsChange() { this.#adopt(); }
    onAfterGraphConfigured() { this.#adopt(); }
    #adopt() {
      const links = this.outputs[0].links ?? [];
      if (!links.length || !this.graph) return;
      const link = this.graph.getLink(links[0]);
      const target = link && this.graph.getNodeById(link.target_id);
      const input = target?.inputs?.[link.target_slot];
      const source = input?.widget && target.widgets?.find((w) => w.name === input.widget.name);
      if (!source || this.widgets?.length) return;
      const saved = this.widgets_values;
      this.outputs[0].type = input.type;
      this.outputs[0].name = input.type;
      let widget;
      if (source.type === "number") {
        const o = source.options;
        widget = this.addWidget("number", source.name, source.value, function (v) {
          this.value = roundValue(v, o);
        }, { ...o });
        if (source.linkedWidgets?.length) addControlWidget(this, widget, "fixed");
      } else if (source.type === "combo") {
        widget = this.addWidget("combo", source.name, source.value, () => {}, { values: source.options.values });
      } else if (source.type === "toggle") {
        widget = this.addWidget("toggle", source.name, source.value, () => {}, { ...source.options });
      } else if (source.type === "customtext") {
        widget = multilineWidget(this, source.name, { default: source.value }, app);
      } else {
        widget = this.addWidget("text", source.name, source.value, () => {}, {});
      }
      if (Array.isArray(saved)) saved.forEach((v, i) => { if (this.widgets[i]) this.widgets[i].value = v; });
      this.setSize(this.computeSize());
    }
    onConfigure(info) { this.widgets_values = info.widgets_values; }
    onRemoved() { for (const w of this.widgets ?? []) w.onRemove?.(); }
  }

  for (const [type, cls, category] of [["Note", NoteNode, "utils"], ["MarkdownNote", MarkdownNoteNode, "utils"],
    ["Reroute", RerouteNode, "utils"], ["PrimitiveNode", PrimitiveNode, "utils"]]) {
    LiteGraph.registerNodeType(type, cls);
    cls.category = category;
    cls.description = { Note: "A text note; not executed.", MarkdownNote: "A markdown note; not executed.",
      Reroute: "Pass a link through a movable point.",
      PrimitiveNode: "Drive one value into several widget inputs." }[type];
  }
}
