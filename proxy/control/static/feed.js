// The live violation feed, shared by every page of the tab: one SSE connection.
import { follow } from "./api.js";

const MAX = 500;

export const feed = {
  items: [],
  ids: new Set(),
  state: "connecting",
  listeners: new Set(),
  controller: null,

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    follow(
      "/control/violations/stream",
      (event, data) => {
        if (event === "violation") this.add(data);
      },
      {
        signal: this.controller.signal,
        onState: (s) => {
          this.state = s;
          this.emit();
        },
      },
    );
  },

  stop() {
    this.controller?.abort();
    this.controller = null;
    this.items = [];
    this.ids.clear();
  },

  add(v) {
    if (this.ids.has(v.event_id)) return;
    this.ids.add(v.event_id);
    this.items.unshift(v);
    this.items.sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : 0));
    if (this.items.length > MAX) {
      for (const old of this.items.splice(MAX)) this.ids.delete(old.event_id);
    }
    this.emit();
  },

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  },

  emit() {
    for (const fn of this.listeners) fn();
  },
};
