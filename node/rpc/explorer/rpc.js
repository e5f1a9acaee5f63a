// JSON-RPC over HTTP and the newHeads subscription over the node's WebSocket, with reconnection.

export const TIMEOUT_MS = 10000;

// The node answered with a JSON-RPC error: code and data.reason are stable (docs/protocol.md).
export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data || null;
    this.reason = (data && data.reason) || null;
  }
}

// The node could not be reached at all (connection refused, timeout, not JSON).
export class Unreachable extends Error {}

export const NOT_FOUND = -32020;
export const INVALID_PARAMS = -32602;

export class Rpc {
  constructor(url, onReachable = () => {}) {
    this.url = url.replace(/\/+$/, "");
    this.nextId = 1;
    this.onReachable = onReachable; // (bool) for the page's banner
  }

  async post(body) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    let resp;
    try {
      resp = await fetch(this.url + "/", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
        signal: abort.signal,
        cache: "no-store",
      });
    } catch (exc) {
      this.onReachable(false);
      throw new Unreachable(`${this.url} is unreachable (${exc.name === "AbortError" ? "timed out" : exc.message})`);
    } finally {
      clearTimeout(timer);
    }
    let answer;
    try {
      answer = await resp.json();
    } catch {
      this.onReachable(false);
      throw new Unreachable(`${this.url} answered HTTP ${resp.status} without JSON`);
    }
    this.onReachable(true);
    return answer;
  }

  async call(method, params = []) {
    const answer = await this.post({ jsonrpc: "2.0", id: this.nextId++, method, params });
    if (answer.error) throw new RpcError(answer.error.code, answer.error.message, answer.error.data);
    return answer.result;
  }

  // [[method, params], ...] in one request; each item comes back as {result} or {error: RpcError}.
  async batch(calls) {
    if (calls.length === 0) return [];
    const first = this.nextId;
    this.nextId += calls.length;
    const answers = await this.post(calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params })));
    if (!Array.isArray(answers)) {
      const e = answers.error || { code: 0, message: "not a batch answer" };
      throw new RpcError(e.code, e.message, e.data);
    }
    const byId = new Map(answers.map((a) => [a.id, a]));
    return calls.map((_, i) => {
      const a = byId.get(first + i);
      if (!a) return { error: new RpcError(0, "no answer in the batch") };
      return a.error ? { error: new RpcError(a.error.code, a.error.message, a.error.data) } : { result: a.result };
    });
  }
}

// The WebSocket URL of a node whose HTTP URL is `url`.
export function wsUrl(url) {
  const u = new URL(url.replace(/\/+$/, "") + "/ws");
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.toString();
}

// Subscribes to newHeads and keeps doing so: after a close it retries with a growing delay
// (0.5 s doubling up to 4 s), forever, until stop().
export class Heads {
  constructor(url, { onHead, onState }) {
    this.url = wsUrl(url);
    this.onHead = onHead;
    this.onState = onState; // ("open" | "down", attempt)
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close();
  }

  connect() {
    clearTimeout(this.timer);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "subscribe", params: ["newHeads"] }));
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.id === 1) {
        if (msg.error) {
          ws.close();
          return;
        }
        this.attempt = 0;
        this.onState("open", 0);
      } else if (msg.method === "subscription" && msg.params && msg.params.topic === "newHeads") {
        this.onHead(msg.params.result);
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.retry();
    };
    ws.onerror = () => {}; // onclose follows and retries
  }

  retry() {
    this.attempt += 1;
    this.onState("down", this.attempt);
    const delay = Math.min(4000, 500 * 2 ** Math.min(this.attempt - 1, 3));
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
