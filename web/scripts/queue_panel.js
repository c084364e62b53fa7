// Side panel: running + pending queue, history gallery from /api/jobs, server-side workflows.
import { api } from "./api.js";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text != null) node.textContent = text;
  return node;
}

function button(label, onClick, cls = "") {
  const b = el("button", cls, label);
  b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
  return b;
}

export class QueuePanel {
  constructor(app, root) {
    this.app = app;
    this.root = root;
    this.refreshing = null;
    const tabs = el("div", "comfy-tabs");
    this.sections = {};
    for (const [key, label] of [["queue", "Queue"], ["history", "History"], ["workflows", "Workflows"]]) {
      const tab = button(label, () => this.show(key), "comfy-tab");
      tab.dataset.tab = key;
      tabs.append(tab);
      const section = el("div", `comfy-section comfy-section-${key}`);
      section.id = `panel-${key}`;
      this.sections[key] = section;
    }
    root.append(tabs, ...Object.values(this.sections));
    this.tabs = tabs;
    this.show("queue");
  }

  show(key) {
    for (const [k, s] of Object.entries(this.sections)) s.classList.toggle("hidden", k !== key);
    for (const t of this.tabs.children) t.classList.toggle("active", t.dataset.tab === key);
    if (key === "workflows") this.refreshWorkflows();
    else this.refresh();
  }

  refresh() {
    if (this.refreshing) { this.again = true; return this.refreshing; }
    this.refreshing = Promise.all([this.renderQueue(), this.renderHistory()])
      .catch((error) => console.warn("queue refresh failed", error))
      .finally(() => {
        this.refreshing = null;
        if (this.again) { this.again = false; this.refresh(); }
      });
    return this.refreshing;
  }

  async renderQueue() {
    const queue = await api.getQueue();
    const section = this.sections.queue;
    section.replaceChildren();
    const header = el("div", "comfy-section-header");
    header.append(el("span", null, "Running / pending"),
      button("Clear", async () => { await api.clearItems("queue"); this.refresh(); }, "comfy-clear-queue"));
    section.append(header);
    const list = el("ul", "comfy-queue-list");
    for (const [kind, items] of [["running", queue.queue_running ?? []], ["pending", queue.queue_pending ?? []]]) {
      const sorted = [...items].sort((a, b) => a[0] - b[0]);
      for (const item of sorted) {
        const promptId = item[1];
        const li = el("li", `comfy-queue-item ${kind}`);
        li.dataset.promptId = promptId;
        li.append(el("span", "status", kind === "running" ? "▶ running" : "⏳ pending"),
          el("span", "id", `#${item[0]} ${String(promptId).slice(0, 8)}`),
          button(kind === "running" ? "Stop" : "Cancel", async () => {
            if (kind === "running") await api.interrupt(promptId);
            else await api.deleteItem("queue", promptId);
            this.refresh();
          }, "comfy-cancel"));
        list.append(li);
      }
    }
    if (!list.children.length) list.append(el("li", "comfy-empty", "Queue is empty"));
    section.append(list);
  }

  async renderHistory() {
    let jobs;
    try {
      jobs = (await api.getJobs({ status: "completed,failed", limit: 40 })).jobs;
    } catch {
      const history = await api.getHistory(40);
      jobs = Object.entries(history).reverse().map(([id, entry]) => {
        const first = Object.entries(entry.outputs ?? {}).flatMap(([nodeId, o]) => (o.images ?? []).map((i) => ({ ...i, nodeId })))[0];
        return { id, status: entry.status?.status_str === "error" ? "failed" : "completed", preview_output: first };
      });
    }
    const section = this.sections.history;
    section.replaceChildren();
    const header = el("div", "comfy-section-header");
    header.append(el("span", null, "History"),
      button("Clear", async () => { await api.clearItems("history"); this.refresh(); }, "comfy-clear-history"));
    section.append(header);
    const gallery = el("div", "comfy-gallery");
    for (const job of jobs) {
      const card = el("div", `comfy-job ${job.status}`);
      card.dataset.promptId = job.id;
      const preview = job.preview_output;
      if (preview?.filename && (preview.mediaType ?? "images") === "images") {
        const img = el("img");
        img.loading = "lazy";
        img.src = api.viewURL(preview, "&preview=webp;75");
        img.title = preview.filename;
        card.append(img);
      } else card.append(el("div", "comfy-job-noimage", job.status));
      const duration = job.execution_end_time && job.execution_start_time
        ? `${((job.execution_end_time - job.execution_start_time) / 1000).toFixed(1)}s` : "";
      const footer = el("div", "comfy-job-footer");
      footer.append(el("span", null, `${job.status === "failed" ? "✗" : "✓"} ${duration}`),
        button("Load", () => this.loadJob(job.id), "comfy-job-load"),
        button("✕", async () => { await api.deleteItem("history", job.id); this.refresh(); }, "comfy-job-delete"));
      card.append(footer);
      gallery.append(card);
    }
    if (!jobs.length) gallery.append(el("div", "comfy-empty", "No history yet"));
    section.append(gallery);
  }

  async loadJob(id) {
    try {
      const job = await api.getJob(id);
      const workflow = job.workflow?.extra_data?.extra_pnginfo?.workflow;
      if (workflow?.nodes) await this.app.loadGraphData(workflow);
      else if (job.workflow?.prompt) await this.app.loadApiJson(job.workflow.prompt);
    } catch (error) {
      this.app.ui.toast(`Could not load job ${id}: ${error.message}`, "error");
    }
  }

  async refreshWorkflows() {
    const section = this.sections.workflows;
    section.replaceChildren();
    let files = [];
    try { files = await api.listUserData("workflows"); } catch (error) {
      section.append(el("div", "comfy-empty", `Workflows unavailable: ${error.message}`));
      return;
    }
    const list = el("ul", "comfy-workflow-list");
    for (const file of files.filter((f) => typeof f === "string" && f.endsWith(".json")).sort()) {
      const li = el("li", "comfy-workflow-item");
      li.dataset.file = file;
      const name = file.replace(/\.json$/, "");
      li.append(el("span", "name", name),
        button("Open", async () => {
          const res = await api.getUserData(`workflows/${file}`);
          const data = await res.json();
          if (data?.nodes) await this.app.loadGraphData(data, { name });
          else await this.app.loadApiJson(data, { name });
        }, "comfy-workflow-open"),
        button("✕", async () => {
          if (!window.confirm(`Delete workflows/${file}?`)) return;
          await api.deleteUserData(`workflows/${file}`);
          this.refreshWorkflows();
        }, "comfy-workflow-delete"));
      list.append(li);
    }
    if (!list.children.length) list.append(el("li", "comfy-empty", "No saved workflows"));
    section.append(list);
  }
}
