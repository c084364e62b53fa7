// Undo/redo by graph snapshots, and persistence of the open graph to localStorage.

const MAX_HISTORY = 50;

function comparable(workflow) {
  const copy = { ...workflow, extra: { ...(workflow.extra ?? {}) } };
  delete copy.extra.ds;
  return JSON.stringify(copy);
}

export class ChangeTracker {
  constructor(app) {
    this.app = app;
    this.undoStack = [];
    this.redoStack = [];
    this.current = null;
    this.currentKey = null;
    this.restoring = false;
  }

  start() {
    this.reset();
    const check = () => this.checkState();
    window.addEventListener("pointerup", () => setTimeout(check, 0), true);
    window.addEventListener("keyup", () => setTimeout(check, 0), true);
    window.addEventListener("change", () => setTimeout(check, 0), true);
    window.addEventListener("input", () => setTimeout(check, 300), true);
    setInterval(check, 1000);
    window.addEventListener("beforeunload", () => this.app.persist());
  }

  reset() {
    if (!this.app.graph) return;
    this.current = this.app.serializeGraph();
    this.currentKey = comparable(this.current);
    this.undoStack = [];
    this.redoStack = [];
    this.app.persist();
  }

  checkState() {
    if (this.restoring || !this.app.graph || this.app.configuring || this.current === null) return;
    const state = this.app.serializeGraph();
    const key = comparable(state);
    if (key === this.currentKey) {
      this.current = state;
      return;
    }
    this.undoStack.push(this.current);
    if (this.undoStack.length > MAX_HISTORY) this.undoStack.shift();
    this.redoStack = [];
    this.current = state;
    this.currentKey = key;
    this.app.persist();
  }

  async undo() { await this.#step(this.undoStack, this.redoStack); }
  async redo() { await this.#step(this.redoStack, this.undoStack); }

  async #step(from, to) {
    this.checkState();
    const target = from.pop();
    if (!target) return;
    to.push(this.current);
    this.restoring = true;
    try {
      const { undoStack, redoStack } = this;
      await this.app.loadGraphData(target, { name: this.app.workflowName, keepView: true });
      this.undoStack = undoStack;
      this.redoStack = redoStack;
      this.current = target;
      this.currentKey = comparable(target);
      this.app.persist();
    } finally { this.restoring = false; }
  }
}
