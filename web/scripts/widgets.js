// Widget factories: one per ComfyUI primitive input type (contract §6, §10.2).
// Each factory is `(node, inputName, inputSpec, app) -> {widget, minWidth?, minHeight?}`.
import { api } from "./api.js";

export const SEED_NAMES = ["seed", "noise_seed"];
const CONTROL_VALUES = ["fixed", "increment", "decrement", "randomize"];
const MAX_RANDOM_SEED = 1125899906842624;

function decimalsOf(step) {
  const text = String(step);
  const dot = text.indexOf(".");
  if (text.includes("e-")) return Number(text.split("e-")[1]);
  return dot < 0 ? 0 : text.length - dot - 1;
}

/** Number widget options for INT/FLOAT specs, with ComfyUI's rounding rules. */
export function numberOptions(type, opts = {}) {
  if (type === "INT") {
    const step = opts.step ?? 1;
    return { min: opts.min ?? -Infinity, max: opts.max ?? Infinity, step2: step, precision: 0, round: 1,
             step: step * 10 };
  }
  const step = opts.step ?? 0.5;
  const precision = opts.precision ?? Math.max(decimalsOf(step), opts.round ? decimalsOf(opts.round) : 0);
  const round = opts.round === false ? 0 : (opts.round ?? 10 ** -precision);
  return { min: opts.min ?? -Infinity, max: opts.max ?? Infinity, step2: step, precision, round,
           step: step * 10 };
}

export function roundValue(value, options) {
  let v = Number(value);
  if (!Number.isFinite(v)) v = options.min > -Infinity ? options.min : 0;
  if (options.round) {
    v = Math.round(v / options.round) * options.round;
    if (options.precision !== undefined) v = Number(v.toFixed(options.precision));
  }
  if (v < options.min) v = options.min;
  if (v > options.max) v = options.max;
  return v;
}

function numberWidget(node, name, type, opts, app) {
  const options = numberOptions(type, opts);
  const initial = roundValue(opts.default ?? (options.min > -Infinity ? options.min : 0), options);
  const widget = node.addWidget("number", name, initial, function (v) {
    const rounded = roundValue(v, options);
    if (rounded !== v) this.value = rounded;
    app?.graphChanged();
  }, options);
  if (opts.tooltip) widget.tooltip = opts.tooltip;
  return widget;
}

/** Adds the UI-only "control_after_generate" combo right after a seed-like widget. */
export function addControlWidget(node, target, defaultMode = "fixed") {
  const mode = CONTROL_VALUES.includes(defaultMode) ? defaultMode : "randomize";
  const control = node.addWidget("combo", "control_after_generate", mode, () => {}, {
    values: CONTROL_VALUES, serialize: false,
  });
  control.linkedTarget = target;
  control.afterQueued = () => {
    const o = target.options;
    const step = o.step2 ?? 1;
    let v = target.value;
    let value = control.value;
    if (value === true) value = "randomize"; // the bundled default graph stores `true`
    if (value === "increment") v += step;
    else if (value === "decrement") v -= step;
    else if (value === "randomize") {
      const min = Math.max(o.min ?? 0, 0);
      const max = Math.min(o.max ?? MAX_RANDOM_SEED, MAX_RANDOM_SEED);
      v = Math.floor(Math.random() * ((max - min) / step + 1)) * step + min;
    } else return;
    target.value = roundValue(v, o);
    target.callback?.(target.value);
  };
  target.linkedWidgets = [control];
  return control;
}

function comboWidget(node, name, values, opts, app) {
  const list = Array.isArray(values) ? values : [];
  const initial = opts.default !== undefined && list.includes(opts.default) ? opts.default : list[0] ?? "";
  const widget = node.addWidget("combo", name, initial, () => app?.graphChanged(), { values: list });
  if (opts.tooltip) widget.tooltip = opts.tooltip;
  return widget;
}

function textWidget(node, name, opts, app) {
  const widget = node.addWidget("text", name, opts.default ?? "", () => app?.graphChanged(), {});
  if (opts.tooltip) widget.tooltip = opts.tooltip;
  return widget;
}

function booleanWidget(node, name, opts, app) {
  const options = { on: opts.label_on ?? "true", off: opts.label_off ?? "false" };
  const widget = node.addWidget("toggle", name, Boolean(opts.default ?? false), () => app?.graphChanged(), options);
  if (opts.tooltip) widget.tooltip = opts.tooltip;
  return widget;
}

/**
 * Multiline STRING: a <textarea> kept over the canvas, positioned each frame from the canvas transform.
 */
export function multilineWidget(node, name, opts, app) {
  const textarea = document.createElement("textarea");
  textarea.className = "comfy-multiline-input";
  textarea.value = opts.default ?? "";
  textarea.placeholder = opts.placeholder ?? name;
  textarea.spellcheck = false;
  textarea.dataset.nodeId = "";
  textarea.dataset.widget = name;
  textarea.style.display = "none";
  if (opts.tooltip) textarea.title = opts.tooltip;
  textarea.addEventListener("input", () => { widget.callback?.(widget.value); });
  textarea.addEventListener("change", () => app?.graphChanged());
  textarea.addEventListener("pointerdown", (e) => e.stopPropagation());
  textarea.addEventListener("keydown", (e) => e.stopPropagation());
  (app?.domLayer ?? document.body).appendChild(textarea);

  const widget = {
    type: "customtext",
    name,
    options: { multiline: true },
    element: textarea,
    y: 0,
    get value() { return textarea.value; },
    set value(v) { textarea.value = v ?? ""; },
    computeLayoutSize() { return { minHeight: 60, maxHeight: 1000000, minWidth: 300 }; },
    draw(ctx, drawnNode, width, y) {
      const height = (this.computedHeight ?? 60) - 4;
      const margin = 10;
      textarea.dataset.nodeId = String(drawnNode.id);
      const canvasEl = ctx.canvas;
      const rect = canvasEl.getBoundingClientRect();
      const t = ctx.getTransform();
      const sx = rect.width / canvasEl.width;
      const sy = rect.height / canvasEl.height;
      const m = new DOMMatrix().scaleSelf(sx, sy).multiplySelf(t).translateSelf(margin, y);
      const disabled = drawnNode.getSlotFromWidget?.(this)?.link != null;
      Object.assign(textarea.style, {
        display: drawnNode.flags?.collapsed ? "none" : "block",
        left: "0px", top: "0px",
        width: `${Math.max(width - margin * 2, 10)}px`, height: `${Math.max(height, 10)}px`,
        transformOrigin: "0 0",
        transform: `matrix(${m.a},${m.b},${m.c},${m.d},${m.e},${m.f})`,
        opacity: disabled ? "0.5" : "1",
      });
      textarea.disabled = disabled;
      this.drawnFrame = app?.frame ?? 0;
    },
    onRemove() { textarea.remove(); },
  };
  node.addCustomWidget(widget);
  app?.domWidgets.add(widget);
  return widget;
}

/** Image upload button + preview for LoadImage-style combos (`image_upload: true`). */
export function imageUploadWidget(node, imageWidget, app) {
  const showPreview = (name) => {
    if (!name) { node.imgs = null; return; }
    let filename = name;
    let subfolder = "";
    const annotated = /^(.*) \[(input|output|temp)\]$/.exec(filename);
    let type = "input";
    if (annotated) { filename = annotated[1]; type = annotated[2]; }
    const slash = filename.lastIndexOf("/");
    if (slash >= 0) { subfolder = filename.slice(0, slash); filename = filename.slice(slash + 1); }
    const img = new Image();
    img.onload = () => { node.imgs = [img]; app?.ensureImageSpace(node); node.setDirtyCanvas(true, true); };
    img.src = api.viewURL({ filename, subfolder, type }, `&rand=${Math.random()}`);
  };
  const upload = async (file) => {
    const result = await api.uploadImage(file);
    const value = result.subfolder ? `${result.subfolder}/${result.name}` : result.name;
    if (!imageWidget.options.values.includes(value)) imageWidget.options.values.push(value);
    imageWidget.value = value;
    imageWidget.callback?.(value);
    return value;
  };
  const prevCallback = imageWidget.callback;
  imageWidget.callback = function (v, ...rest) {
    showPreview(v);
    return prevCallback?.call(this, v, ...rest);
  };
  const button = node.addWidget("button", "upload", "image", () => {
    const input = document.createElement("input");
    input.type = "file";
    input.accept = "image/png,image/jpeg,image/webp,image/gif";
    input.style.display = "none";
    input.addEventListener("change", async () => {
      if (input.files?.length) await upload(input.files[0]);
      input.remove();
    });
    document.body.appendChild(input);
    input.click();
  }, { serialize: false });
  button.label = "choose file to upload";
  button.serializeValue = () => undefined;
  node.uploadImage = upload;
  node.onDragOver = (e) => Boolean(e.dataTransfer?.types?.includes("Files"));
  node.onDragDrop = (e) => {
    const file = [...(e.dataTransfer?.files ?? [])].find((f) => f.type.startsWith("image/"));
    if (!file) return false;
    upload(file);
    return true;
  };
  node.refreshImagePreview = () => showPreview(imageWidget.value);
  requestAnimationFrame(() => showPreview(imageWidget.value));
  return button;
}

/** Build the widget for one widget-typed input. Returns null for socket-only inputs. */
export function createWidget(node, name, spec, app) {
  const [type, opts = {}] = spec;
  if (opts.forceInput) return null;
  if (Array.isArray(type)) return comboWidget(node, name, type, opts, app);
  switch (type) {
    case "COMBO": return comboWidget(node, name, opts.options ?? [], opts, app);
    case "INT": case "FLOAT": return numberWidget(node, name, type, opts, app);
    case "STRING":
      return opts.multiline ? multilineWidget(node, name, opts, app) : textWidget(node, name, opts, app);
    case "BOOLEAN": return booleanWidget(node, name, opts, app);
    default: return null;
  }
}

export function isWidgetSpec(spec) {
  const [type, opts = {}] = spec;
  if (opts.forceInput) return false;
  return Array.isArray(type) || ["COMBO", "INT", "FLOAT", "STRING", "BOOLEAN"].includes(type);
}

export function widgetTypeOf(spec) {
  return Array.isArray(spec[0]) ? "COMBO" : spec[0];
}
