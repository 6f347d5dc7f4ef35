// The calls dashboard: GET /api/metrics/calls/daily drawn as a 30-day bar
// chart (the org's totals for an admin, your own for a member) and today's
// per-member table, refreshed every 10 seconds.

import { api, me, signOut, token } from "./client.js";
import { $, notice } from "./ui.js";

const REFRESH_MS = 10_000;
const SVG = "http://www.w3.org/2000/svg";

function talk(seconds) {
  const m = Math.floor(seconds / 60);
  const s = String(seconds % 60).padStart(2, "0");
  return `${m}:${s}`;
}

/** Every day from `from` to `to` (YYYY-MM-DD), both included. */
function daysBetween(from, to) {
  const out = [];
  const d = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`);
  while (d <= end) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

function drawChart(days, rows) {
  const svg = $("#chart");
  svg.replaceChildren();
  const byDay = new Map();
  for (const r of rows) {
    const t = byDay.get(r.day) || { total: 0, answered: 0, missed: 0 };
    t.total += r.total;
    t.answered += r.answered;
    t.missed += r.missed;
    byDay.set(r.day, t);
  }
  const max = Math.max(1, ...[...byDay.values()].map((t) => t.total));
  const w = 600 / days.length;
  days.forEach((day, i) => {
    const t = byDay.get(day) || { total: 0, answered: 0, missed: 0 };
    const g = document.createElementNS(SVG, "g");
    g.dataset.day = day;
    g.dataset.total = t.total;
    g.dataset.answered = t.answered;
    g.dataset.missed = t.missed;
    const title = document.createElementNS(SVG, "title");
    title.textContent = `${day}: ${t.total} calls, ${t.answered} answered, ${t.missed} missed`;
    g.append(title);
    let y = 170;
    for (const [part, n] of [["answered", t.answered], ["missed", t.missed], ["other", t.total - t.answered - t.missed]]) {
      if (n <= 0) continue;
      const h = (n / max) * 160;
      y -= h;
      const rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("x", String(i * w + 1));
      rect.setAttribute("y", String(y));
      rect.setAttribute("width", String(Math.max(1, w - 2)));
      rect.setAttribute("height", String(h));
      rect.setAttribute("class", part);
      g.append(rect);
    }
    const base = document.createElementNS(SVG, "rect");
    base.setAttribute("x", String(i * w + 1));
    base.setAttribute("y", "170");
    base.setAttribute("width", String(Math.max(1, w - 2)));
    base.setAttribute("height", "2");
    base.setAttribute("class", "axis");
    g.append(base);
    svg.append(g);
  });
}

function drawToday(today, rows) {
  const body = $("#members");
  body.replaceChildren();
  const todays = rows.filter((r) => r.day === today);
  $("#empty").hidden = todays.length > 0;
  for (const r of todays) {
    const tr = document.createElement("tr");
    tr.dataset.member = r.memberId;
    for (const v of [r.memberId, r.total, r.inbound, r.outbound, r.answered, r.missed, talk(r.talkSeconds)]) {
      const td = document.createElement("td");
      td.textContent = String(v);
      tr.append(td);
    }
    body.append(tr);
  }
}

async function refresh() {
  try {
    const m = await api("GET", "/api/metrics/calls/daily");
    const admin = Array.isArray(m.org);
    $("#scope").textContent = `${admin ? "Everyone in the org" : "Your calls"}, days in ${m.timeZone}.`;
    $("#today").textContent = m.today;
    drawChart(daysBetween(m.from, m.to), admin ? m.org : m.members);
    drawToday(m.today, m.members);
    document.body.dataset.loaded = "true";
  } catch (err) {
    notice(err.message, "error");
  }
}

const who = me();
if (!token() || !who) {
  location.href = "/";
} else {
  $("#whoami").textContent = `${[who.firstName, who.lastName].filter(Boolean).join(" ") || who.userId} · ${who.tenantId}`;
  $("#signout").onclick = signOut;
  refresh();
  setInterval(refresh, REFRESH_MS);
}
