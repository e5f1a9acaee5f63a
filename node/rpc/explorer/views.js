// The chain's views: home (live), block, transaction, address (and contract), validators.

import { addrLink, ago, blockLink, fields, h, iso, json, link, message, section, shortHash, table, txLink, units } from "./dom.js";
import { chart } from "./chart.js";
import { RpcError, NOT_FOUND, INVALID_PARAMS } from "./rpc.js";
import { reasonText } from "./reasons.js";
import { alertsAbout } from "./markets.js";

const HISTORY_PAGE = 20;
const BLOCK_TX_SHOWN = 100;
const RECEIPTS_UP_TO = 200; // a block with more transactions lists hashes only
const RISK_WINDOW = 1000; // blocks after a transaction in which the monitor's alerts on it are looked for

// --- home -------------------------------------------------------------------------------------

function rates(blocks) {
  // blocks newest first
  if (blocks.length < 2) return { blockTime: null, tps: null };
  const newest = blocks[0];
  const oldest = blocks[blocks.length - 1];
  const seconds = (newest.time_ms - oldest.time_ms) / 1000;
  const txs = blocks.slice(0, -1).reduce((n, b) => n + b.tx_count, 0);
  return { blockTime: seconds / (blocks.length - 1), tps: seconds > 0 ? txs / seconds : 0 };
}

export async function home(ctx) {
  const stats = h("div", { class: "stats" });
  const chartBox = h("div", { class: "chart-box" });
  const blocksBody = h("tbody", { id: "latest-blocks" });
  const txsBody = h("tbody", { id: "latest-txs" });
  const draw = () => {
    const s = ctx.state;
    const r = rates(s.blocks);
    stats.replaceChildren(
      stat("Height", s.height, "stat-height"),
      stat("Block time", r.blockTime === null ? "—" : r.blockTime.toFixed(2) + " s"),
      stat("Tx/s", r.tps === null ? "—" : r.tps.toFixed(1), "stat-tps"),
      stat("Blocks shown", s.blocks.length));
    chartBox.replaceChildren(chart(s.blocks.slice().reverse(), window.innerWidth < 560));
    // Bounded: the tables are rebuilt from the newest rows only, never appended to.
    blocksBody.replaceChildren(...s.blocks.slice(0, ctx.LIVE_ROWS).map((b) => h("tr", { dataset: { height: b.height } },
      h("td", {}, blockLink(b.height)), h("td", {}, ago(b.time_ms)), h("td", { class: "num" }, b.tx_count),
      h("td", { class: "hide-narrow" }, addrLink(b.proposer)), h("td", { class: "num hide-narrow" }, b.gas_used ?? "—"))));
    const txs = [];
    for (const b of s.blocks) {
      for (const t of (b.txs || []).slice().reverse()) {
        if (txs.length >= ctx.LIVE_TXS) break;
        txs.push([b, t]);
      }
      if (txs.length >= ctx.LIVE_TXS) break;
    }
    txsBody.replaceChildren(...txs.map(([b, t]) => h("tr", {},
      h("td", {}, txLink(t.hash)), h("td", {}, blockLink(b.height)), h("td", {}, t.type + (t.method ? " " + t.method : "")),
      h("td", { class: "num" }, t.amount && t.amount !== "0" ? units(t.amount) : ""),
      h("td", { class: "hide-narrow" }, addrLink(t.from)), h("td", { class: "hide-narrow" }, addrLink(t.to)))));
    if (s.blocks.length) ctx.firstContent();
  };
  ctx.onBlocks(draw);
  ctx.every(1000, () => {
    // "x s ago" moves even when no block comes.
    for (const [i, b] of ctx.state.blocks.slice(0, ctx.LIVE_ROWS).entries()) {
      const cell = blocksBody.children[i] && blocksBody.children[i].children[1];
      if (cell) cell.textContent = ago(b.time_ms);
    }
  });
  draw();
  return h("div", {},
    stats,
    section("Block time and tx/s, last blocks", chartBox),
    h("div", { class: "two" },
      section("Latest blocks", h("div", { class: "scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Height"), h("th", {}, "Age"), h("th", {}, "Txs"),
          h("th", { class: "hide-narrow" }, "Proposer"), h("th", { class: "hide-narrow" }, "Gas"))), blocksBody))),
      section("Latest transactions", h("div", { class: "scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Hash"), h("th", {}, "Block"), h("th", {}, "Kind"), h("th", {}, "FIN"),
          h("th", { class: "hide-narrow" }, "From"), h("th", { class: "hide-narrow" }, "To"))), txsBody)))));
}

function stat(label, value, id) {
  return h("div", { class: "stat" }, h("span", { class: "label" }, label), h("span", { class: "value", id }, String(value)));
}

// --- block ------------------------------------------------------------------------------------

function signers(commit, title) {
  if (!commit) return section(title, message("info", "No commit stored."));
  return section(`${title}: height ${commit.height}, round ${commit.round}, ${commit.signatures.length} signatures`,
    table(["Validator", "Signature"], commit.signatures.map((s) => [addrLink(s.validator), h("code", {}, shortHash(s.signature))])));
}

export async function block(ctx, id) {
  const which = /^[0-9]+$/.test(id) ? Number(id) : id;
  const b = await ctx.rpc.call("chain_getBlock", [which]);
  const hd = b.header;
  const [next, receipts] = await Promise.all([
    ctx.rpc.call("chain_getBlock", [b.height + 1]).catch(() => null),
    b.tx_count && b.tx_count <= RECEIPTS_UP_TO ? ctx.rpc.call("chain_getBlockReceipts", [b.height]).catch(() => null) : null,
  ]);
  let txRows;
  if (receipts) {
    txRows = receipts.txs.map(({ tx, receipt }) => [txLink(tx.hash), tx.type + (tx.method ? " " + tx.method : ""),
      addrLink(tx.from), addrLink(tx.to || tx.contract_address), receipt.status + (receipt.error ? ` (${receipt.error})` : ""),
      units(receipt.fee)]);
  } else {
    txRows = b.txs.slice(0, BLOCK_TX_SHOWN).map((t) => [txLink(t), "", "", "", "", ""]);
  }
  return h("div", {},
    h("div", { class: "pager" }, b.height > 1 ? link("← previous", "block", b.height - 1) : "",
      next ? link("next →", "block", b.height + 1) : ""),
    section(`Block ${b.height}`, fields([
      ["height", "Height", String(b.height)],
      ["hash", "Hash", h("code", {}, b.hash)],
      ["time", "Time", `${iso(hd.time_ms)} (${ago(hd.time_ms)})`],
      ["proposer", "Proposer", addrLink(hd.proposer)],
      ["tx_count", "Transactions", String(b.tx_count)],
      ["gas_used", "Gas used", String(b.gas_used ?? "—")],
      ["base_fee", "Base fee per gas", units(b.base_fee_per_gas, 9, 3) + " gwei"],
      ["size", "Size", `${b.size} bytes`],
      ["prev_hash", "Previous block", b.height > 1 ? link(hd.prev_hash, "block", b.height - 1) : h("code", {}, hd.prev_hash)],
      ["state_root", "State root", h("code", {}, hd.state_root)],
      ["tx_root", "Tx root", h("code", {}, hd.tx_root)],
      ["validators_hash", "Validators hash", h("code", {}, hd.validators_hash)],
      ["evidence", "Evidence", String(b.evidence.length)],
    ])),
    section(`Transactions (${b.tx_count}${b.tx_count > txRows.length ? `, first ${txRows.length} shown` : ""})`,
      b.tx_count ? table(["Hash", "Kind", "From", "To", "Status", "Fee"], txRows) : message("info", "No transactions.")),
    signers(next && next.last_commit, "Commit that finalized it"),
    signers(b.last_commit, "Commit of the previous block, carried in this one"));
}

// --- transaction ------------------------------------------------------------------------------

export async function tx(ctx, hash) {
  if (!/^0x[0-9a-fA-F]{64}$/.test(hash || "")) return message("error", "Malformed transaction hash: 0x and 64 hex digits.");
  const t = await ctx.rpc.call("tx_get", [hash]);
  if (t.status === "unknown") return message("error", `Not found: no transaction ${hash} is committed or pending on this node.`);
  const tx = t.tx;
  const r = t.receipt;
  const out = [section(`Transaction ${shortHash(t.hash)}`, fields([
    ["hash", "Hash", h("code", {}, t.hash)],
    ["status", "Status", t.status === "pending" ? "pending (in the mempool)" :
      h("span", { class: r.status === "success" ? "ok" : "bad" }, r.status)],
    r && r.error ? ["error", "Reason code", h("code", { class: "bad" }, r.error)] : null,
    r && r.error && reasonText(r.error) ? ["reason", "Meaning", reasonText(r.error) + " (docs/finance.md)"] : null,
    ["block", "Block", t.height ? blockLink(t.height) : "—"],
    ["index", "Position", t.index ?? "—"],
    ["type", "Kind", tx.type + (tx.method ? ` (${tx.method})` : "")],
    ["from", "From", addrLink(tx.from)],
    ["to", "To", addrLink(tx.to || tx.contract_address)],
    ["amount", "Amount", units(tx.amount) + " FIN"],
    ["nonce", "Nonce", String(tx.nonce)],
    ["gas_used", "Gas used / limit", r ? `${r.gas_used} / ${tx.gas_limit}` : `— / ${tx.gas_limit}`],
    ["fee", "Fee", r ? units(r.fee, 18, 9) + " FIN" : "—"],
    ["gas_price", "Effective gas price", r && r.gas_used ? units((BigInt(r.fee) / BigInt(r.gas_used)).toString(), 9, 3) + " gwei" : "—"],
    ["max_fee", "Max fee / priority fee per gas", `${units(tx.max_fee_per_gas, 9, 3)} / ${units(tx.max_priority_fee_per_gas, 9, 3)} gwei`],
    tx.args !== undefined ? ["args", "Arguments", json(tx.args)] : null,
    r && r.output !== null && r.output !== undefined ? ["output", "Returned", json(r.output)] : null,
  ]))];
  if (r) {
    out.push(section(`Events (${r.events.length})`, r.events.length
      ? table(["#", "Contract", "Event", "Data"], r.events.map((e, i) => [String(i), addrLink(e.address), h("span", { class: "event-name" }, e.name), json(e.data)]), { id: "events" })
      : message("info", r.status === "failed" ? "None: a failed transaction keeps no events." : "None.")));
  }
  if (t.height) {
    // Rules over a window raise their alert some blocks after the transaction.
    const risk = await alertsAbout(ctx, tx.from, { tx: t.hash, fromHeight: t.height, toHeight: t.height + RISK_WINDOW });
    if (risk) out.push(risk);
  }
  if (tx.type === "deploy") out.push(section("Source", h("pre", { class: "source" }, tx.source)));
  return h("div", {}, out);
}

// --- address and contract ---------------------------------------------------------------------

export async function address(ctx, addr, cursor) {
  if (!/^0x[0-9a-fA-F]{40}$/.test(addr || "")) return message("error", "Malformed address: 0x and 40 hex digits.");
  let account;
  try {
    account = await ctx.rpc.call("account_get", [addr]);
  } catch (exc) {
    if (exc instanceof RpcError && exc.code === INVALID_PARAMS) return message("error", `Not a valid address: ${exc.message}`);
    throw exc;
  }
  const contracts = await ctx.contracts().catch(() => []);
  const tokens = contracts.filter((c) => c.faces.includes("token"));
  const identity = contracts.find((c) => c.faces.includes("identity"));
  const topics = identity && Array.isArray(identity.args[1]) ? identity.args[1] : [];
  const calls = [
    ["contract_getCode", [addr]],
    ["account_txs", cursor ? [addr, HISTORY_PAGE, cursor] : [addr, HISTORY_PAGE]],
    ...tokens.map((t) => ["contract_call", [t.address, "balance_of", [addr]]]),
    ...topics.map((topic) => ["contract_call", [identity.address, "get_claim", [addr, topic]]]),
  ];
  const answers = await ctx.rpc.batch(calls);
  const code = answers[0];
  const history = answers[1];
  const balances = answers.slice(2, 2 + tokens.length);
  const claims = answers.slice(2 + tokens.length);
  const known = contracts.find((c) => c.address.toLowerCase() === addr.toLowerCase());
  const out = [section(code.result ? "Contract" : "Address", fields([
    ["address", "Address", h("code", {}, account.address)],
    known ? ["name", "Genesis name", known.name] : null,
    ["balance", "Balance", units(account.balance) + " FIN"],
    ["balance_raw", "Balance (base units)", account.balance],
    ["nonce", "Nonce", String(account.nonce)],
    ["at", "At height", String(account.height)],
  ]))];
  const held = [];
  for (const [i, t] of tokens.entries()) {
    const a = balances[i];
    if (!a.result || a.result.status !== "success" || a.result.output === "0") continue;
    const meta = await ctx.tokenMeta(t.address);
    held.push([link(meta.symbol || t.name, "address", t.address), meta.name, h("span", { class: "num" }, units(a.result.output, meta.decimals))]);
  }
  out.push(section("Token balances", held.length ? table(["Token", "Name", "Balance"], held, { id: "token-balances" })
    : message("info", `No balance in the ${tokens.length} known tokens.`)));
  if (identity) {
    const rows = [];
    for (const [i, topic] of topics.entries()) {
      const c = claims[i] && claims[i].result && claims[i].result.status === "success" ? claims[i].result.output : null;
      if (!c || c.status === "not_verified") continue;
      // The registry holds no personal data; the commitment and the issuer's reference are not shown either.
      rows.push([topic, h("span", { class: c.status === "ok" ? "ok" : "bad" }, c.status), c.value ?? "", addrLink(c.issuer),
        c.expiry_height !== undefined ? String(c.expiry_height) : ""]);
    }
    out.push(section("Identity claims (KYC)", rows.length ? table(["Topic", "Status", "Value", "Issuer", "Expires at height"], rows, { id: "claims" })
      : message("info", "No claim in the identity registry.")));
  }
  const risk = await alertsAbout(ctx, account.address);
  if (risk) out.push(risk);
  if (code.result) out.push(...await contractParts(ctx, code.result));
  out.push(historySection(addr, history, cursor, code.result ? "Calls and transfers (newest first)" : "History (newest first)"));
  return h("div", {}, out);
}

async function contractParts(ctx, code) {
  const iface = code.interface;
  const views = new Set(iface.filter((m) => m.kind === "view").map((m) => m.name));
  const parts = [];
  if (["name", "symbol", "decimals", "total_supply"].every((v) => views.has(v))) {
    const meta = await ctx.tokenMeta(code.address);
    const supply = await ctx.rpc.call("contract_call", [code.address, "total_supply", []]).catch(() => null);
    parts.push(section("Token", fields([
      ["token_name", "Name", meta.name],
      ["token_symbol", "Symbol", meta.symbol],
      ["token_decimals", "Decimals", String(meta.decimals)],
      ["total_supply", "Total supply", supply && supply.status === "success" ? units(supply.output, meta.decimals) : "—"],
    ])));
  }
  parts.push(section("Interface", table(["Method", "Kind", "Parameters", "Returns"], iface.map((m) => [
    m.name, m.kind + (m.payable ? ", payable" : ""), m.params.map((p) => `${p.name}: ${p.type}${p.optional ? "?" : ""}`).join(", "),
    m.returns || ""]))));
  parts.push(section(`Source (code hash ${shortHash(code.code_hash)})`, h("pre", { class: "source", id: "source" }, code.source)));
  return parts;
}

function historySection(addr, history, cursor, title) {
  if (history.error) return section(title, message("error", history.error.message));
  const page = history.result;
  const rows = page.txs.map(({ height, tx, receipt }) => [txLink(tx.hash), blockLink(height), tx.type + (tx.method ? " " + tx.method : ""),
    addrLink(tx.from), addrLink(tx.to || tx.contract_address), units(tx.amount),
    h("span", { class: receipt.status === "success" ? "ok" : "bad" }, receipt.status + (receipt.error ? ` (${receipt.error})` : ""))]);
  const pager = h("div", { class: "pager" },
    cursor ? link("← newest", "address", addr) : "",
    page.next_cursor ? link("older →", "address", addr, page.next_cursor) : "");
  return section(title, rows.length ? table(["Hash", "Block", "Kind", "From", "To", "Amount", "Status"], rows, { id: "history" })
    : message("info", "No transactions."), pager);
}

// --- validators -------------------------------------------------------------------------------

export async function validators(ctx) {
  const [v, ev] = await Promise.all([
    ctx.rpc.call("chain_getValidators", [100]),
    ctx.rpc.call("chain_getEvidence", [1, 100]),
  ]);
  const evidence = [...ev.committed, ...ev.pending];
  return h("div", {},
    section(`Validators at height ${v.height}`, fields([
      ["total_power", "Total power", String(v.total_power)],
      ["consensus", "Consensus now", v.consensus.height === null ? "—" : `height ${v.consensus.height}, round ${v.consensus.round}`],
      ["proposer", "Proposer of this round", addrLink(v.consensus.proposer)],
      ["window", "Counted over", `blocks ${v.window.from_height}–${v.window.to_height}`],
    ]), table(["Validator", "Name", "Power", "Share", "Proposed", "Last proposed", "Signed", "Last signed"], v.validators.map((x) => [
      addrLink(x.address), x.name, String(x.power), (x.power_share_bps / 100).toFixed(2) + " %", String(x.proposed),
      x.last_proposed_height ? blockLink(x.last_proposed_height) : "—", `${x.signed} / ${v.window.blocks}`,
      x.last_signed_height ? blockLink(x.last_signed_height) : "never"]), { id: "validators" })),
    section(`Evidence of double signing (${evidence.length})`, evidence.length
      ? table(["Validator", "Height", "Round", "Vote", "Committed in"], evidence.map((e) => [addrLink(e.validator), String(e.height),
        String(e.round), e.vote_type, e.committed_height ? blockLink(e.committed_height) : "pending"]))
      : message("info", "None.")));
}

export { NOT_FOUND };
