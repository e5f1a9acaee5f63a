// Views beyond the chain itself: swap pools and lending markets (contract reads), AML alerts (the
// monitor's own JSON-RPC, ?monitor=URL) and the network of a devnet (?nodes=URL,URL,... and ?proxy=URL).

import { addrLink, blockLink, fields, h, json, link, message, percent, section, table, txLink, units } from "./dom.js";
import { Rpc, RpcError, Unreachable } from "./rpc.js";

const EXP = 10n ** 18n;
const ALERTS_SHOWN = 50;
const ALERTS_LOOKBACK = 2000; // blocks of alerts read for the newest ones

function out(answer) {
  return answer && answer.result && answer.result.status === "success" ? answer.result.output : null;
}

async function symbolOf(ctx, address) {
  const meta = await ctx.tokenMeta(address);
  return meta.symbol || address.slice(0, 8);
}

// --- pools and lending markets ----------------------------------------------------------------

export async function markets(ctx) {
  const contracts = await ctx.contracts();
  const parts = [];
  const swaps = contracts.filter((c) => c.faces.includes("swap"));
  const lendings = contracts.filter((c) => c.faces.includes("lending"));
  const oracle = contracts.find((c) => c.faces.includes("oracle"));
  for (const swap of swaps) parts.push(await pools(ctx, swap));
  for (const lending of lendings) parts.push(await lendingMarkets(ctx, lending, oracle));
  if (!parts.length) parts.push(message("info", "This network has no swap or lending contract in its genesis."));
  return h("div", {}, parts);
}

async function pools(ctx, swap) {
  const pairs = await ctx.rpc.call("contract_call", [swap.address, "pairs", []]);
  const list = pairs.status === "success" ? pairs.output : [];
  const answers = await ctx.rpc.batch(list.map(([a, b]) => ["contract_call", [swap.address, "get_pair", [a, b]]]));
  const rows = [];
  for (const [i, [a, b]] of list.entries()) {
    const p = out(answers[i]);
    if (!p) continue;
    const [sa, sb] = [await symbolOf(ctx, p.token0), await symbolOf(ctx, p.token1)];
    const r0 = BigInt(p.reserve0);
    const r1 = BigInt(p.reserve1);
    const price = r0 > 0n ? units(((r1 * EXP) / r0).toString(), 18, 6) : "—";
    rows.push([`${sa} / ${sb}`, h("span", { class: "num" }, units(p.reserve0)), h("span", { class: "num" }, units(p.reserve1)),
      `${price} ${sb} per ${sa}`, units(p.total_supply), link("pair", "address", a), link("tokens", "address", b)]);
  }
  return section(`Swap pools (${swap.name}, ${addrLinkText(swap.address)})`,
    rows.length ? table(["Pair", "Reserve 0", "Reserve 1", "Price", "LP supply", "Token 0", "Token 1"], rows, { id: "pools" })
      : message("info", "No pool yet."));
}

function addrLinkText(address) {
  return address.slice(0, 8) + "…";
}

async function lendingMarkets(ctx, lending, oracle) {
  const got = await ctx.rpc.call("contract_call", [lending.address, "markets", []]);
  const tokens = got.status === "success" ? got.output : [];
  const calls = tokens.map((t) => ["contract_call", [lending.address, "market", [t]]]);
  if (oracle) calls.push(...tokens.map((t) => ["contract_call", [oracle.address, "price", [t]]]));
  const answers = await ctx.rpc.batch(calls);
  const rows = [];
  for (const [i, t] of tokens.entries()) {
    const m = out(answers[i]);
    if (!m) continue;
    const price = oracle ? out(answers[tokens.length + i]) : null;
    rows.push([link(await symbolOf(ctx, t), "address", t), units(m.cash), units(m.borrows), units(m.reserves),
      percent(m.utilization), percent(m.borrow_rate, 6), percent(m.supply_rate, 6), percent(m.collateral_factor),
      price === null ? "no fresh price" : units(price)]);
  }
  return section(`Lending markets (${lending.name}, ${addrLinkText(lending.address)})`,
    rows.length ? table(["Market", "Cash", "Borrows", "Reserves", "Utilization", "Borrow rate / block", "Supply rate / block",
      "Collateral factor", "Oracle price"], rows, { id: "lending" }) : message("info", "No market listed yet."));
}

// --- AML alerts -------------------------------------------------------------------------------

export async function alerts(ctx) {
  if (!ctx.monitor) {
    return message("info", "No monitor configured: open the page with ?monitor=http://host:port (the AML monitor's " +
      "JSON-RPC URL, docs/monitoring.md; it must list this page's origin in --cors-origins).");
  }
  const monitor = new Rpc(ctx.monitor);
  const box = h("div", {});
  const load = async () => {
    let status;
    let page;
    try {
      status = await monitor.call("aml_status");
      page = await monitor.call("aml_alerts", { from_height: Math.max(0, status.height - ALERTS_LOOKBACK), limit: 1000 });
    } catch (exc) {
      const why = exc instanceof Unreachable ? `the monitor at ${ctx.monitor} is unreachable` : `the monitor refused: ${exc.message}`;
      box.replaceChildren(message("error", why + "; retrying every 5 s."));
      return;
    }
    const newest = page.alerts.slice(-ALERTS_SHOWN).reverse();
    box.replaceChildren(
      section("Monitor", fields([
        ["monitor_height", "Monitor at height", String(status.height)],
        ["monitor_lag", "Behind the node by", `${status.lag} blocks`],
        ["monitor_alerts", "Alerts in all", String(status.alerts)],
        ["monitor_node", "Follows", status.node],
      ])),
      section(`Newest alerts (${newest.length} shown)`, newest.length ? table(["Height", "Rule", "Severity", "Subject", "Amount", "Explanation", "Txs"],
        newest.map((a) => [blockLink(a.height), a.rule, h("span", { class: "sev-" + String(a.severity).replace(/[^a-z]/g, "") }, a.severity),
          addrLink(a.subject), a.amount ? units(a.amount) + " " + (a.asset === "FIN" ? "FIN" : "") : "", a.explanation,
          h("span", {}, (a.txs || []).slice(0, 3).map((t) => [txLink(t), " "]))]), { id: "alerts" }) : message("info", "No alert.")));
  };
  await load();
  ctx.every(5000, load);
  return box;
}

// The monitor's alerts that name an address (or one transaction of it), for the address and
// transaction views; null without ?monitor=. A monitor that does not answer is said so, and the
// rest of the view is shown all the same.
export async function alertsAbout(ctx, address, { tx = null, fromHeight = 0, toHeight = null } = {}) {
  if (!ctx.monitor) return null;
  const params = { address, from_height: fromHeight, limit: 1000 };
  if (toHeight !== null) params.to_height = toHeight;
  let page;
  try {
    page = await new Rpc(ctx.monitor).call("aml_alerts", params);
  } catch (exc) {
    return section("AML alerts", message("error", exc instanceof Unreachable ? `the monitor at ${ctx.monitor} is unreachable`
      : `the monitor refused: ${exc.message}`));
  }
  const found = tx ? page.alerts.filter((a) => (a.txs || []).includes(tx)) : page.alerts.slice(-ALERTS_SHOWN).reverse();
  return section(`AML alerts ${tx ? "on this transaction" : "naming this address"} (${found.length})`, found.length
    ? table(["Height", "Rule", "Severity", "Explanation"], found.map((a) => [blockLink(a.height), a.rule,
      h("span", { class: "sev-" + String(a.severity).replace(/[^a-z]/g, "") }, a.severity), a.explanation]), { id: "risk" })
    : message("info", "None raised by the monitor."));
}

// --- devnet network ---------------------------------------------------------------------------

export async function network(ctx) {
  const box = h("div", {});
  const rpcs = ctx.nodes.map((u) => new Rpc(u));
  const load = async () => {
    const statuses = await Promise.all(rpcs.map((r) => r.call("node_status").then((s) => ({ s }), (e) => ({ e }))));
    const rows = statuses.map(({ s, e }, i) => s
      ? [ctx.nodes[i], s.moniker, h("span", { class: "ok" }, "up"), String(s.height), s.consensus.round ?? "—",
        s.consensus.step ?? "—", String(s.peers), s.catching_up ? "catching up" : "in sync", String(s.mempool_size)]
      : [ctx.nodes[i], "", h("span", { class: "bad" }, "down"), "—", "—", "—", "—",
        e instanceof RpcError ? `refused: ${e.message}` : "unreachable", "—"]);
    const parts = [section("Nodes", table(["RPC", "Moniker", "State", "Height", "Round", "Step", "Peers", "Sync", "Mempool"], rows, { id: "nodes" }))];
    if (ctx.proxy) parts.push(await faults(ctx.proxy));
    else parts.push(message("info", "Faults: open the page with ?proxy=<the devnet's fault proxy control URL> (devnet.json, proxy.control)."));
    box.replaceChildren(...parts);
  };
  await load();
  ctx.every(2000, load);
  return h("div", {}, message("info", "Nodes listed with ?nodes=URL,URL,... (default: this page's node)."), box);
}

async function faults(proxyUrl) {
  let st;
  try {
    const resp = await fetch(proxyUrl.replace(/\/+$/, "") + "/state", { cache: "no-store" });
    st = await resp.json();
  } catch (exc) {
    return section("Injected faults", message("error", `the fault proxy at ${proxyUrl} is unreachable (${exc.message})`));
  }
  const f = st.faults || {};
  const delays = Object.entries(f.delays || {}).map(([n, d]) => `node${n}: ${d.ms} ms ± ${d.jitter_ms}`);
  const drops = Object.entries(f.drops || {}).map(([n, p]) => `node${n}: ${p} %/s`);
  return section("Injected faults", fields([
    ["partition", "Partition", f.partition && f.partition.length ? f.partition.map((g) => "{" + g.join(", ") + "}").join(" | ") : "none"],
    ["delays", "Delays", delays.length ? delays.join("; ") : "none"],
    ["drops", "Connection drops", drops.length ? drops.join("; ") : "none"],
  ]), table(["Link", "Open", "Held", "Closed by fault", "Bytes →", "Bytes ←"], (st.links || []).map((l) => [
    `node${l.from} → node${l.to}`, String(l.open), String(l.held), String(l.closed_by_fault), String(l.bytes_fwd), String(l.bytes_back)])),
  h("details", {}, h("summary", {}, "raw state"), json(f)));
}
