// The explorer's shell: parameters, the live chain state from newHeads, the router, search, the banner.
// Views live in views.js and markets.js; each is `async (ctx, ...args) => Node`. A new view is a
// function there, a line in ROUTES, and (if it needs one) a link in the nav of index.html.

import { h, message } from "./dom.js";
import { Heads, Rpc, RpcError, Unreachable, NOT_FOUND } from "./rpc.js";
import * as views from "./views.js";
import * as markets from "./markets.js";

const LIVE_BLOCKS = 60; // blocks kept for the chart and the rates
const LIVE_ROWS = 15; // rows of the latest-blocks table
const LIVE_TXS = 20; // rows of the latest-transactions table
const BRIEF_TXS = 20; // transactions asked per block in summaries

const params = new URLSearchParams(location.search);
function defaultRpc() {
  return location.protocol.startsWith("http") ? location.origin : "http://127.0.0.1:8545";
}
const notices = []; // shown above every view

function checkedRpc(text) {
  try {
    const u = new URL(text);
    if (u.protocol === "http:" || u.protocol === "https:") return text.replace(/\/+$/, "");
  } catch {
    // not a URL: said below
  }
  notices.push(message("error", `?rpc=${text} is not an http(s) URL of a node; showing ${defaultRpc()} instead.`));
  return defaultRpc();
}
const rpcUrl = checkedRpc(params.get("rpc") || defaultRpc());

const state = {
  reachable: true,
  height: 0,
  synced: 0, // summaries read up to this height
  blocks: [], // newest first, at most LIVE_BLOCKS summaries
  pumping: false,
  contracts: null, // promise of chain_getGenesisContracts
  tokenMeta: new Map(), // address -> {name, symbol, decimals}
  firstContent: false,
  downSince: null,
  wsOpen: false,
};

const banner = document.getElementById("banner");
const heightEl = document.getElementById("height");
const main = document.getElementById("view");

function setReachable(ok, attempt = 0) {
  if (ok === state.reachable && !(attempt && !ok)) return;
  state.reachable = ok;
  if (ok) {
    state.downSince = null;
    banner.hidden = true;
    banner.replaceChildren();
    document.body.classList.remove("down");
    // Everything shown may be stale: resync the live lists and redraw the view.
    state.synced = Math.max(0, state.height - LIVE_BLOCKS);
    pump();
    render();
  } else {
    state.downSince = state.downSince || Date.now();
    banner.hidden = false;
    document.body.classList.add("down");
    banner.replaceChildren(h("strong", {}, "Node unreachable. "),
      `${rpcUrl} does not answer; the page reconnects by itself when it is back.`,
      attempt ? ` (attempt ${attempt})` : "");
  }
}

const rpc = new Rpc(rpcUrl, (ok) => {
  // An HTTP answer clears the banner only while the WebSocket is subscribed: without it nothing is live.
  if (!ok) setReachable(false);
  else if (state.wsOpen) setReachable(true);
});

const live = new Heads(rpcUrl, {
  onHead: (header) => {
    state.height = Math.max(state.height, header.height);
    heightEl.textContent = String(state.height);
    pump();
  },
  onState: (s, attempt) => {
    state.wsOpen = s === "open";
    if (s === "open") {
      setReachable(true);
      rpc.call("node_status").then((st) => {
        state.height = Math.max(state.height, st.height);
        heightEl.textContent = String(state.height);
        pump();
      }, () => {});
    } else {
      setReachable(false, attempt);
    }
  },
});

// Reads the summaries of new blocks, one request at a time; heads that arrive meanwhile are
// covered by the next read, so a fast chain costs one request per read, not one per block.
async function pump() {
  if (state.pumping) return;
  state.pumping = true;
  try {
    while (state.synced < state.height) {
      const target = state.height;
      const count = Math.min(LIVE_BLOCKS, target - state.synced);
      const got = await rpc.call("chain_getBlockSummaries", [target, count, BRIEF_TXS]);
      const known = new Set(got.blocks.map((b) => b.height));
      state.blocks = got.blocks.concat(state.blocks.filter((b) => !known.has(b.height))).slice(0, LIVE_BLOCKS);
      state.synced = target;
      for (const l of liveListeners) l();
    }
  } catch (exc) {
    if (!(exc instanceof Unreachable)) console.warn("summaries:", exc.message);
  } finally {
    state.pumping = false;
  }
}

const liveListeners = new Set();

function tokenMeta(address) {
  if (!state.tokenMeta.has(address)) {
    state.tokenMeta.set(address, rpc.batch([
      ["contract_call", [address, "name", []]],
      ["contract_call", [address, "symbol", []]],
      ["contract_call", [address, "decimals", []]],
    ]).then(([n, s, d]) => ({
      name: n.result && n.result.status === "success" ? String(n.result.output) : "",
      symbol: s.result && s.result.status === "success" ? String(s.result.output) : "",
      decimals: d.result && d.result.status === "success" ? Number(d.result.output) : 18,
    }), () => ({ name: "", symbol: "", decimals: 18 })));
  }
  return state.tokenMeta.get(address);
}

function contracts() {
  if (!state.contracts) {
    state.contracts = rpc.call("chain_getGenesisContracts").then((r) => r.contracts, (exc) => {
      state.contracts = null;
      if (exc instanceof RpcError) return []; // an older node without the method
      throw exc;
    });
  }
  return state.contracts;
}

const nodeList = (params.get("nodes") || "").split(",").map((s) => s.trim()).filter(Boolean);

const ctx = {
  rpc,
  rpcUrl,
  params,
  state,
  nodes: nodeList.length ? nodeList : [rpcUrl],
  proxy: params.get("proxy"),
  monitor: params.get("monitor"),
  contracts,
  tokenMeta,
  LIVE_ROWS,
  LIVE_TXS,
  cleanups: [],
  // A view that updates with each block registers here; it is dropped when the view changes.
  onBlocks(fn) {
    liveListeners.add(fn);
    this.cleanups.push(() => liveListeners.delete(fn));
  },
  every(ms, fn) {
    const t = setInterval(fn, ms);
    this.cleanups.push(() => clearInterval(t));
  },
  firstContent() {
    if (!state.firstContent) {
      state.firstContent = true;
      performance.mark("explorer-first-content");
    }
  },
};

const ROUTES = {
  "": views.home,
  block: views.block,
  tx: views.tx,
  address: views.address,
  validators: views.validators,
  markets: markets.markets,
  alerts: markets.alerts,
  network: markets.network,
};

let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  for (const c of ctx.cleanups.splice(0)) c();
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const name = parts[0] || "";
  const view = ROUTES[name];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.route === name);
  if (!view) {
    main.replaceChildren(message("error", `No such page: ${name}`));
    return;
  }
  if (name !== "") main.replaceChildren(message("info", "Loading…"));
  let node;
  try {
    node = await view(ctx, ...parts.slice(1));
  } catch (exc) {
    node = errorView(exc);
  }
  if (seq === renderSeq) main.replaceChildren(...notices, node);
}

function errorView(exc) {
  if (exc instanceof Unreachable) return message("error", exc.message);
  if (exc instanceof RpcError && exc.code === NOT_FOUND) return message("error", `Not found: ${exc.message}`);
  if (exc instanceof RpcError) return message("error", `The node refused: ${exc.message}`);
  console.error(exc);
  return message("error", `Error: ${exc.message}`);
}

// --- search: a height, a block or transaction hash, or an address ----------------------------

const searchForm = document.getElementById("search");
const searchInput = document.getElementById("q");
const searchError = document.getElementById("search-error");

function searchFail(text) {
  searchError.textContent = text;
  searchError.hidden = false;
}

async function search(raw) {
  const q = raw.trim();
  searchError.hidden = true;
  searchError.textContent = "";
  if (q === "") return;
  if (/^[0-9]{1,19}$/.test(q)) {
    const height = Number(q);
    if (height < 1 || height > state.height) {
      searchFail(`No block at height ${q}: the chain is at ${state.height}.`);
      return;
    }
    location.hash = `#/block/${height}`;
    return;
  }
  if (/^0x[0-9a-fA-F]{40}$/.test(q)) {
    try {
      await rpc.call("account_get", [q]);
    } catch (exc) {
      searchFail(exc instanceof RpcError ? `Not a valid address: ${exc.message}` : exc.message);
      return;
    }
    location.hash = `#/address/${q}`;
    return;
  }
  if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
    let answers;
    try {
      answers = await rpc.batch([["chain_getHeader", [q.toLowerCase()]], ["tx_get", [q.toLowerCase()]]]);
    } catch (exc) {
      searchFail(exc.message);
      return;
    }
    const [header, tx] = answers;
    if (header.result) {
      location.hash = `#/block/${header.result.height}`;
    } else if (tx.result && tx.result.status !== "unknown") {
      location.hash = `#/tx/${q.toLowerCase()}`;
    } else {
      searchFail(`Nothing found for ${q}: no block and no transaction (committed or pending) has this hash.`);
    }
    return;
  }
  searchFail("Malformed search: enter a block height (digits), a block or transaction hash (0x and 64 hex digits) " +
    "or an address (0x and 40 hex digits).");
}

searchForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  search(searchInput.value);
});

// Links keep the page's parameters (?rpc=, ?monitor=, ...) because they only change the hash.
window.addEventListener("hashchange", () => {
  searchError.hidden = true;
  render();
});

document.getElementById("endpoint").textContent = rpcUrl;
render();
live.start();
// A first read over HTTP, so that content appears before the WebSocket is up: the newest blocks
// in one call, and the chain id beside it.
rpc.call("chain_getBlockSummaries", ["latest", LIVE_BLOCKS, BRIEF_TXS]).then((got) => {
  if (state.synced < got.latest) {
    state.blocks = got.blocks;
    state.synced = got.latest;
  }
  state.height = Math.max(state.height, got.latest);
  heightEl.textContent = String(state.height);
  for (const l of liveListeners) l();
  pump();
}, (exc) => {
  if (exc instanceof Unreachable) setReachable(false);
});
rpc.call("node_status").then((st) => {
  document.getElementById("chain").textContent = st.chain_id;
}, () => {});

// For tests and measurements.
window.explorer = { state, ctx, search };
