// The live page's script (served from the service itself: its Content-Security-Policy allows no inline script).
"use strict";
// UI text, each entry [English, 中文] side by side; every Chinese character here is in the page's own font
// (static/fonts/live-cjk.woff2: `python -m devkit.live_assets font` after a change).
const LANGS = ["en", "zh"];
const WORDS = {
  switchTo: ["中文", "English"], switchLang: ["zh-Hans", "en"], htmlLang: ["en", "zh-Hans"],
  pageTitle: ["Belt and Road Overseas Chinese Cooperation & Development Conference — live",
              "“一带一路”华侨华人合作发展大会 — 实时数据"],
  title: ["Belt and Road Overseas Chinese Cooperation & Development Conference", "“一带一路”华侨华人合作发展大会"],
  subtitle: ["“一带一路”华侨华人合作发展大会 · live figures",
             "Belt and Road Overseas Chinese Cooperation & Development Conference · 实时数据"],
  banner: ["Connection to the live feed lost — reconnecting…", "与实时数据的连接已中断，正在重新连接…"],
  waiting: ["Waiting for the first edition…", "等待第一届大会…"],
  connecting: ["connecting", "正在连接"], live: ["live", "实时"], reconnecting: ["reconnecting…", "正在重新连接…"],
  delegates: ["delegates", "代表"], countries: ["countries and regions", "国家和地区"],
  projects: ["projects signed", "签约项目"], network: ["network countries", "网络覆盖国家"],
  // In Chinese the big amount is in 亿元 (10^8 yuan, bigAmount below), the table's in 百万元.
  bigUnit: ["billion yuan", "亿元"], millionUnit: ["¥ million", "百万元"],
  byCountry: ["By country", "按国家和地区"], country: ["Country", "国家和地区"], colDelegates: ["Delegates", "代表"],
  checkedIn: ["Checked in", "已签到"], organisations: ["Organisations", "机构"], colProjects: ["Projects", "项目"],
  bySector: ["Signed projects by sector", "签约项目（按行业）"],
  cases: ["Top 10 Cases of Overseas Chinese Contribution", "华侨华人贡献十大案例"],
  noCases: ["No cases featured yet.", "暂无入选案例。"], noProjects: ["No projects signed yet.", "暂无签约项目。"],
  footer: ["Figures change as events arrive from the registration, projects and network services.",
           "数据随注册、项目和网络服务发出的事件实时更新。"],
  edition: [(n) => `${ordinal(n)} edition`, (n) => `第${n}届`],
  host: [(h) => ` — host: ${h}`, (h) => ` — 主办：${h}`],
  next: [(n) => `Next: ${ordinal(n.number)} edition in ${n.host}${n.city ? ` (${n.city})` : ""}, ${n.year}`,
         (n) => `下一届：第${n.number}届，${n.host}${n.city ? `（${n.city}）` : ""}，${n.year}年`],
  updated: [(time) => `Last change ${time}.`, (time) => `最后更新 ${time}。`],
  inBigUnit: [(v) => `¥${v} bn`, (v) => `¥${v}亿`],
  pending: [(n) => (n ? `+${n.toLocaleString("en")} awaiting approval` : ""), (n) => (n ? `另有${n}人待审核` : "")],
  timeline: ["Registrations and check-ins", "注册与签到"],
  perDay: ["per day", "按日"], perTenMinutes: ["per 10 minutes", "每10分钟"],
  registeredKey: ["registered", "注册"], checkedInKey: ["checked in", "签到"],
  noTimeline: ["No registrations yet.", "暂无注册。"],
  inView: [(r, c) => `${r} registered · ${c} checked in`, (r, c) => `注册 ${r} · 签到 ${c}`],
  bucket: [(when, r, c) => `${when}: ${r} registered, ${c} checked in`, (when, r, c) => `${when}：注册 ${r}，签到 ${c}`],
};
const SECTORS = {
  green_energy: ["Green energy", "绿色能源"], digital_economy: ["Digital economy", "数字经济"],
  energy: ["Energy", "能源"], manufacturing: ["Manufacturing", "制造业"], infrastructure: ["Infrastructure", "基础设施"],
  trade_logistics: ["Trade & logistics", "贸易与物流"], agriculture: ["Agriculture", "农业"], finance: ["Finance", "金融"],
  healthcare: ["Healthcare", "医疗健康"], culture_tourism: ["Culture & tourism", "文化旅游"],
  social_livelihood: ["Social livelihood", "社会民生"], other: ["Other", "其他"],
};
const inLang = (table, i) => Object.fromEntries(Object.entries(table).map(([key, pair]) => [key, pair[i]]));
const TEXT = Object.fromEntries(LANGS.map((l, i) => [l, {...inLang(WORDS, i), sectors: inLang(SECTORS, i)}]));
// ?lang=zh|en (a hall screen's URL), else the last choice on this browser, else the browser's language.
const storedLang = () => { try { return localStorage.getItem("lang"); } catch { return null; } };
const wantedLang = new URLSearchParams(location.search).get("lang") || storedLang() ||
  (navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en");
let lang = LANGS.includes(wantedLang) ? wantedLang : "en";
const t = () => TEXT[lang];
let countryNames = {};   // {"MY": {"en": "Malaysia", "zh": "马来西亚"}}: static/countries.json (from pycountry)
const countryName = (code) => (countryNames[code] && countryNames[code][lang]) || code;
const sectorName = (sector) => t().sectors[sector] || sector;
const flag = (code) => {  // the service's own SVG (static/flags/, flag-icons): no emoji font needed
  const img = document.createElement("img");
  img.className = "flag"; img.alt = ""; img.width = 24; img.height = 18;
  img.src = `static/flags/${code.toLowerCase()}.svg`;
  return img;
};
const fen = (amount) => BigInt(String(amount).replace(".", ""));           // exact: "43790000000.00" -> fen
const roundDiv = (n, d) => (n + d / 2n) / d;
// Hundredths of the big unit: a billion yuan (10^11 fen) in English, 亿元 (10^10 fen) in Chinese.
const bigAmount = (amount) => { const h = roundDiv(fen(amount), lang === "zh" ? 100000000n : 1000000000n);
  return `${h / 100n}.${String(h % 100n).padStart(2, "0")}`; };
const millions = (amount) => roundDiv(fen(amount), 100000000n).toLocaleString("en");
const ordinal = (n) => n + (["th", "st", "nd", "rd"][(n % 100 - 20) % 10] || ["th", "st", "nd", "rd"][n % 100] || "th");
const collator = () => new Intl.Collator(lang === "zh" ? "zh-Hans-CN-u-co-pinyin" : "en");

let sortKey = "delegates", sortDir = -1, countryRows = [], lastDoc = null, status = "connecting";

function setFigure(id, text, bump) {
  const el = document.getElementById(id);
  if (el.textContent !== text) {
    el.textContent = text; if (!bump) return;
    el.classList.add("bumped"); setTimeout(() => el.classList.remove("bumped"), 600);
  }
}

function renderCountries() {
  const compare = collator().compare;
  const rows = [...countryRows].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const cmp = typeof x === "string" ? compare(x, y) : (x < y ? -1 : x > y ? 1 : 0);
    return cmp * sortDir || compare(a.name, b.name);
  });
  const body = document.querySelector("#country-table tbody");
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.country = r.country;
    const name = document.createElement("td"); name.append(flag(r.country), ` ${r.name}`); tr.append(name);
    for (const v of [r.delegates, r.checked_in, r.organizations, r.projects, millions(r.amount_cny)]) {
      const td = document.createElement("td"); td.textContent = String(v); tr.append(td);
    }
    return tr;
  }));
  for (const th of document.querySelectorAll("#country-table th")) {
    th.setAttribute("aria-sort", th.dataset.key === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
  }
}

function empty(tag, text) {
  const el = document.createElement(tag); el.className = "empty"; el.textContent = text; return el;
}

function renderSectors(bySector) {
  const entries = Object.entries(bySector).sort((a, b) => (fen(b[1].amount_cny) > fen(a[1].amount_cny) ? 1 : -1));
  const max = entries.reduce((m, [, f]) => (fen(f.amount_cny) > m ? fen(f.amount_cny) : m), 1n);
  const box = document.getElementById("sector-bars");
  box.replaceChildren(...entries.filter(([, f]) => f.count > 0).map(([sector, f]) => {
    const row = document.createElement("div"); row.className = "bar-row"; row.dataset.sector = sector;
    const label = document.createElement("div"); label.textContent = `${sectorName(sector)} (${f.count})`;
    const track = document.createElement("div"); track.className = "bar-track";
    const bar = document.createElement("div"); bar.className = "bar";
    bar.style.width = `${Number((fen(f.amount_cny) * 1000n) / max) / 10}%`;
    track.append(bar);
    const value = document.createElement("div"); value.className = "bar-value";
    value.textContent = t().inBigUnit(bigAmount(f.amount_cny));
    row.append(label, track, value);
    return row;
  }));
  if (!box.children.length) box.replaceChildren(empty("p", t().noProjects));
}

function renderCases(cases) {
  const list = document.getElementById("case-list");
  if (!cases.length) { list.replaceChildren(empty("li", t().noCases)); return; }
  list.replaceChildren(...cases.map((c) => {
    const li = document.createElement("li");
    const rank = document.createElement("div"); rank.className = "rank"; rank.textContent = c.rank;
    const text = document.createElement("div");
    const title = document.createElement("div"); title.textContent = c.title;
    const meta = document.createElement("div"); meta.className = "meta";
    meta.append(`${c.enterprise} · `, flag(c.country), ` ${countryName(c.country)} · ${sectorName(c.sector)}`);
    text.append(title, meta); li.append(rank, text);
    return li;
  }));
}

// bump: flash the figures that changed (not when only the language did).
function render(doc, bump = true) {
  lastDoc = doc;
  const totals = doc.totals;
  setFigure("fig-delegates", totals.delegates.registered.toLocaleString("en"), bump);
  setFigure("fig-countries", totals.delegates.countries.toLocaleString("en"), bump);
  setFigure("fig-projects", totals.projects.signed.toLocaleString("en"), bump);
  setFigure("fig-yuan", bigAmount(totals.projects.amount_cny), bump);
  setFigure("fig-network", totals.network.countries.toLocaleString("en"), bump);
  document.getElementById("fig-pending").textContent = t().pending(totals.delegates.pending || 0);
  const e = doc.edition;
  const edition = document.getElementById("edition-text");
  if (e) {
    const strong = document.createElement("strong");
    strong.textContent = `${t().edition(e.number)} · ${e.city || e.host} · ${e.starts_on}`;
    edition.replaceChildren(strong, t().host(e.host));
  } else {
    edition.textContent = t().waiting;
  }
  const n = doc.next_edition;
  document.getElementById("next-edition").textContent = n ? t().next(n) : "";
  countryRows = doc.countries.map((r) => ({...r, name: countryName(r.country), amount_fen: fen(r.amount_cny)}));
  renderCountries();
  renderSectors(totals.projects.by_sector);
  renderCases(doc.cases);
  refreshTimeline(doc);  // redrawn when its own data comes, not on every update
  if (totals.updated_at) {
    const time = new Date(totals.updated_at).toLocaleTimeString(t().htmlLang);
    document.getElementById("updated").textContent = t().updated(time);
  }
}

// The timeline (GET /timeline): per day while delegates register, per ten minutes on the conference days
// (conference time, UTC+8), unless the viewer picks one (the buttons, or ?span= on a hall screen's URL).
const SPANS = {day: 86400000, "10min": 600000};
const MAX_BARS = 72;                    // the last 72 buckets: ten weeks of days, or twelve hours of the day
const TIMELINE_EVERY_MS = 3000;         // a busy stream refetches the timeline at most this often
const CONFERENCE_OFFSET_MS = 8 * 3600000;
const chosenSpan = new URLSearchParams(location.search).get("span");
let pickedSpan = chosenSpan in SPANS ? chosenSpan : null, timelineDoc = null, timelineWanted = "";
let timelineTimer = null, timelineFetched = 0;

const conferenceTime = (ms) => new Date(ms + CONFERENCE_OFFSET_MS).toISOString().slice(0, 16);  // "2025-07-30T09:10"
function currentSpan() {
  if (pickedSpan) return pickedSpan;
  const e = lastDoc && lastDoc.edition, today = conferenceTime(Date.now()).slice(0, 10);
  return e && e.starts_on <= today && today <= (e.ends_on || e.starts_on) ? "10min" : "day";
}

// Refetches when the figures the timeline counts (or the span, or the edition) changed: at once when the viewer
// asked, else at most every few seconds.
function refreshTimeline(doc, now = false) {
  const d = doc.totals.delegates;
  const wanted = [currentSpan(), doc.edition ? doc.edition.edition_id : "", d.registered, d.checked_in].join("|");
  if (wanted === timelineWanted) return;
  timelineWanted = wanted;
  if (now) { clearTimeout(timelineTimer); fetchTimeline(); } else if (timelineTimer === null) {
    timelineTimer = setTimeout(fetchTimeline, Math.max(0, timelineFetched + TIMELINE_EVERY_MS - Date.now()));
  }
}

function fetchTimeline() {
  timelineTimer = null; timelineFetched = Date.now();
  const [span, edition] = timelineWanted.split("|");
  const query = new URLSearchParams({span, ...(edition ? {edition_id: edition} : {})});
  fetch(`timeline?${query}`).then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
    .then((doc) => { if (doc.span === currentSpan()) { timelineDoc = doc; renderTimeline(); } })  // not a late one
    .catch(() => { timelineWanted = ""; });  // the next update tries again
}

// The buckets to draw, gaps filled with zeros: every day, or the ten-minute buckets of the latest day.
function timelineSlots(doc) {
  if (!doc.buckets.length) return [];
  const step = SPANS[doc.span], counts = new Map(doc.buckets.map((b) => [conferenceTime(Date.parse(b.start)), b]));
  let first = Date.parse(doc.buckets[0].start);
  const last = Date.parse(doc.buckets[doc.buckets.length - 1].start);
  if (doc.span === "10min") first = Math.max(first, Date.parse(`${conferenceTime(last).slice(0, 10)}T00:00:00+08:00`));
  first = Math.max(first, last - (MAX_BARS - 1) * step);
  const slots = [];
  for (let ms = first; ms <= last; ms += step) {
    const when = conferenceTime(ms), b = counts.get(when);
    slots.push({when, registered: b ? b.registered : 0, checked_in: b ? b.checked_in : 0});
  }
  return slots;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) el.setAttribute(name, String(value));
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderTimeline() {
  for (const button of document.querySelectorAll(".span-switch button")) {
    button.setAttribute("aria-pressed", String(button.dataset.span === currentSpan()));
  }
  const span = timelineDoc ? timelineDoc.span : currentSpan();  // the chart drawn until the other one comes
  const chart = document.getElementById("timeline-chart");
  const slots = timelineDoc ? timelineSlots(timelineDoc) : [];
  const summary = document.getElementById("timeline-summary");
  chart.dataset.span = span; chart.dataset.bars = String(slots.length);
  if (!slots.length) {
    chart.replaceChildren(svg("text", {x: 300, y: 90, "text-anchor": "middle", class: "empty"}, t().noTimeline));
    summary.textContent = ""; return;
  }
  const [left, top, width, height] = [34, 8, 560, 130];
  const max = Math.max(1, ...slots.map((s) => Math.max(s.registered, s.checked_in)));
  const slot = width / slots.length, bar = Math.min(16, Math.max(1, slot * 0.4));  // a pair centred per slot
  const label = (when) => (span === "day" ? when.slice(5, 10) : when.slice(11, 16));
  const parts = [svg("line", {x1: left, y1: top + height, x2: left + width, y2: top + height, class: "axis"}),
                 svg("text", {x: left - 4, y: top + 10, "text-anchor": "end"}, max.toLocaleString("en")),
                 svg("text", {x: left - 4, y: top + height, "text-anchor": "end"}, "0")];
  slots.forEach((s, i) => {
    const x = left + i * slot + (slot - 2 * bar) / 2, group = svg("g", {"data-when": s.when});
    group.append(svg("title", {}, t().bucket(span === "day" ? s.when.slice(0, 10) : s.when.replace("T", " "),
                                             s.registered, s.checked_in)));
    for (const [kind, value, offset] of [["registered", s.registered, 0], ["checked-in", s.checked_in, bar]]) {
      const h = (value / max) * height;
      group.append(svg("rect", {x: x + offset, y: top + height - h, width: bar, height: h, class: kind}));
    }
    parts.push(group);
  });
  const ticks = Math.min(slots.length, 6);  // a few times along the axis, the first and the last among them
  for (let k = 0; k < ticks; k++) {
    const i = ticks === 1 ? 0 : Math.round((k * (slots.length - 1)) / (ticks - 1));
    parts.push(svg("text", {x: left + (i + 0.5) * slot, y: top + height + 16, "text-anchor": "middle"},
                   label(slots[i].when)));
  }
  chart.replaceChildren(...parts);
  const sum = (key) => slots.reduce((n, s) => n + s[key], 0).toLocaleString("en");
  summary.textContent = t().inView(sum("registered"), sum("checked_in"));
}

for (const button of document.querySelectorAll(".span-switch button")) {
  button.addEventListener("click", () => {
    pickedSpan = button.dataset.span;
    if (lastDoc) refreshTimeline(lastDoc, true);
    renderTimeline();
  });
}

function setLive(live) {
  status = live ? "live" : "reconnecting";
  document.body.classList.toggle("reconnecting", !live);
  document.getElementById("status").textContent = t()[status];
}

// Every label in the chosen language; the figures again, for the country names, sectors and units.
function applyLang() {
  const text = t();
  document.documentElement.lang = text.htmlLang;
  document.title = text.pageTitle;
  for (const el of document.querySelectorAll("[data-text]")) el.textContent = text[el.dataset.text];
  const button = document.getElementById("lang-switch");
  button.textContent = text.switchTo; button.lang = text.switchLang;
  document.getElementById("status").textContent = text[status];
  if (lastDoc) render(lastDoc, false);
  else document.getElementById("edition-text").textContent = text.waiting;
  renderTimeline();
}

document.getElementById("lang-switch").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  try { localStorage.setItem("lang", lang); } catch { /* storage disabled: the choice lasts this visit */ }
  const url = new URL(location.href);
  if (url.searchParams.has("lang")) { url.searchParams.set("lang", lang); history.replaceState(null, "", url); }
  applyLang();
});

for (const th of document.querySelectorAll("#country-table th")) {
  th.addEventListener("click", () => {
    sortDir = sortKey === th.dataset.key ? -sortDir : (th.dataset.type === "text" ? 1 : -1);
    sortKey = th.dataset.key;
    renderCountries();
  });
}

function connect() {
  const source = new EventSource("stream");
  source.addEventListener("open", () => setLive(true));
  source.addEventListener("overview", (msg) => { setLive(true); render(JSON.parse(msg.data)); });
  source.addEventListener("error", () => setLive(false));   // EventSource retries by itself
}

applyLang();
// The names first (a missing file leaves the codes), then the figures, then the stream.
fetch("static/countries.json").then((r) => r.json()).then((names) => { countryNames = names; }).catch(() => {})
  .then(() => fetch("overview")).then((r) => r.json()).then(render).catch(() => setLive(false)).finally(connect);
