// The live page's script (served from the service itself: its Content-Security-Policy allows no inline script).
"use strict";
const SECTORS = {
  green_energy: "Green energy", digital_economy: "Digital economy", energy: "Energy",
  manufacturing: "Manufacturing", infrastructure: "Infrastructure", trade_logistics: "Trade & logistics",
  agriculture: "Agriculture", finance: "Finance", healthcare: "Healthcare", culture_tourism: "Culture & tourism",
  social_livelihood: "Social livelihood", other: "Other",
};
const regionNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], {type: "region"}) : null;
const countryName = (code) => { try { return (regionNames && regionNames.of(code)) || code; } catch { return code; } };
const flag = (code) => String.fromCodePoint(...[...code].map((c) => 0x1f1a5 + c.charCodeAt(0)));
const fen = (amount) => BigInt(String(amount).replace(".", ""));           // exact: "43790000000.00" -> fen
const roundDiv = (n, d) => (n + d / 2n) / d;
const billions = (amount) => { const h = roundDiv(fen(amount), 1000000000n);   // hundredths of a billion
  return `${h / 100n}.${String(h % 100n).padStart(2, "0")}`; };
const millions = (amount) => roundDiv(fen(amount), 100000000n).toLocaleString("en");
const ordinal = (n) => n + (["th", "st", "nd", "rd"][(n % 100 - 20) % 10] || ["th", "st", "nd", "rd"][n % 100] || "th");

let sortKey = "delegates", sortDir = -1, countryRows = [];

function setFigure(id, text) {
  const el = document.getElementById(id);
  if (el.textContent !== text) {
    el.textContent = text; el.classList.add("bumped"); setTimeout(() => el.classList.remove("bumped"), 600);
  }
}

function renderCountries() {
  const rows = [...countryRows].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const cmp = typeof x === "string" ? x.localeCompare(y) : (x < y ? -1 : x > y ? 1 : 0);
    return cmp * sortDir || a.name.localeCompare(b.name);
  });
  const body = document.querySelector("#country-table tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.country = r.country;
    for (const v of [`${flag(r.country)} ${r.name}`, r.delegates, r.checked_in, r.organizations, r.projects,
                     millions(r.amount_cny)]) {
      const td = document.createElement("td"); td.textContent = String(v); tr.append(td);
    }
    return tr;
  }));
  for (const th of document.querySelectorAll("#country-table th")) {
    th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
  }
}

function renderSectors(bySector) {
  const entries = Object.entries(bySector).sort((a, b) => (fen(b[1].amount_cny) > fen(a[1].amount_cny) ? 1 : -1));
  const max = entries.reduce((m, [, f]) => (fen(f.amount_cny) > m ? fen(f.amount_cny) : m), 1n);
  const box = document.getElementById("sector-bars");
  box.replaceChildren(...entries.filter(([, f]) => f.count > 0).map(([sector, f]) => {
    const row = document.createElement("div"); row.className = "bar-row"; row.dataset.sector = sector;
    const label = document.createElement("div"); label.textContent = `${SECTORS[sector] || sector} (${f.count})`;
    const track = document.createElement("div"); track.className = "bar-track";
    const bar = document.createElement("div"); bar.className = "bar";
    bar.style.width = `${Number((fen(f.amount_cny) * 1000n) / max) / 10}%`;
    track.append(bar);
    const value = document.createElement("div"); value.className = "bar-value"; value.textContent = `¥${billions(f.amount_cny)} bn`;
    row.append(label, track, value);
    return row;
  }));
  if (!box.children.length) box.innerHTML = '<p class="empty">No projects signed yet.</p>';
}

function renderCases(cases) {
  const list = document.getElementById("case-list");
  if (!cases.length) { list.innerHTML = '<li class="empty">No cases featured yet.</li>'; return; }
  list.replaceChildren(...cases.map((c) => {
    const li = document.createElement("li");
    const rank = document.createElement("div"); rank.className = "rank"; rank.textContent = c.rank;
    const text = document.createElement("div");
    const title = document.createElement("div"); title.textContent = c.title;
    const meta = document.createElement("div"); meta.className = "meta";
    meta.textContent = `${c.enterprise} · ${flag(c.country)} ${countryName(c.country)} · ${SECTORS[c.sector] || c.sector}`;
    text.append(title, meta); li.append(rank, text);
    return li;
  }));
}

function render(doc) {
  const t = doc.totals;
  setFigure("fig-delegates", t.delegates.registered.toLocaleString("en"));
  setFigure("fig-countries", t.delegates.countries.toLocaleString("en"));
  setFigure("fig-projects", t.projects.signed.toLocaleString("en"));
  setFigure("fig-yuan", billions(t.projects.amount_cny));
  setFigure("fig-network", t.network.countries.toLocaleString("en"));
  const e = doc.edition;
  document.getElementById("edition-text").innerHTML = "";
  if (e) {
    const strong = document.createElement("strong");
    strong.textContent = `${ordinal(e.number)} edition · ${e.city || e.host} · ${e.starts_on}`;
    document.getElementById("edition-text").append(strong, ` — host: ${e.host}`);
  } else {
    document.getElementById("edition-text").textContent = "Waiting for the first edition…";
  }
  const n = doc.next_edition;
  document.getElementById("next-edition").textContent =
    n ? `Next: ${ordinal(n.number)} edition in ${n.host}${n.city ? ` (${n.city})` : ""}, ${n.year}` : "";
  countryRows = doc.countries.map((r) => ({...r, name: countryName(r.country), amount_fen: fen(r.amount_cny)}));
  renderCountries();
  renderSectors(t.projects.by_sector);
  renderCases(doc.cases);
  if (t.updated_at) document.getElementById("updated").textContent = `Last change ${new Date(t.updated_at).toLocaleTimeString()}.`;
}

for (const th of document.querySelectorAll("#country-table th")) {
  th.addEventListener("click", () => {
    sortDir = sortKey === th.dataset.key ? -sortDir : (th.dataset.type === "text" ? 1 : -1);
    sortKey = th.dataset.key;
    renderCountries();
  });
}

function setLive(live) {
  document.body.classList.toggle("reconnecting", !live);
  document.getElementById("status").textContent = live ? "live" : "reconnecting…";
}

function connect() {
  const source = new EventSource("stream");
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("overview", (msg) => { setLive(true); render(JSON.parse(msg.data)); });
  source.addEventListener("error", () => setLive(false));   // EventSource retries by itself
}

fetch("overview").then((r) => r.json()).then(render).catch(() => setLive(false)).finally(connect);
