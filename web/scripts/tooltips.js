// Hover tooltips: node description on the title, input/output tooltips on slots, widget tooltips.
const DELAY_MS = 500;

function inputSpec(def, name) {
  return def?.input?.required?.[name] ?? def?.input?.optional?.[name];
}

/** Text for whatever is under graph position `pos`, or null. */
export function tooltipAt(graph, pos) {
  const node = graph.getNodeOnPos(pos[0], pos[1]);
  if (!node) return null;
  const def = node.constructor.nodeData;
  const local = [pos[0] - node.pos[0], pos[1] - node.pos[1]];
  if (local[1] < 0) return def?.description || node.constructor.description || null;
  const input = node.getInputOnPos?.(pos);
  if (input) return inputSpec(def, input.name)?.[1]?.tooltip ?? input.tooltip ?? `${input.name}: ${input.type}`;
  const output = node.getOutputOnPos?.(pos);
  if (output) {
    const index = node.outputs.indexOf(output);
    return def?.output_tooltips?.[index] ?? `${output.name}: ${output.type}`;
  }
  const widget = node.getWidgetOnPos?.(pos[0], pos[1], true);
  if (widget) return inputSpec(def, widget.name)?.[1]?.tooltip ?? widget.tooltip ?? null;
  return null;
}

export function installTooltips(app) {
  const tip = document.createElement("div");
  tip.className = "comfy-tooltip hidden";
  document.body.appendChild(tip);
  let timer = null;
  const hide = () => { clearTimeout(timer); tip.classList.add("hidden"); };
  app.canvasEl.addEventListener("pointermove", (e) => {
    hide();
    if (e.buttons) return;
    timer = setTimeout(() => {
      const pos = app.canvas.convertEventToCanvasOffset(e);
      const text = tooltipAt(app.graph, pos);
      if (!text) return;
      tip.textContent = text;
      tip.style.left = `${e.clientX + 14}px`;
      tip.style.top = `${e.clientY + 14}px`;
      tip.classList.remove("hidden");
    }, DELAY_MS);
  });
  app.canvasEl.addEventListener("pointerleave", hide);
  app.canvasEl.addEventListener("pointerdown", hide);
}
