// Staff pages: members, books, loans and the library key's usage, over the library server's JSON API.
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const res = await fetch(path, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(out.error ?? `HTTP ${res.status}`);
  return out;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text ?? '';
  return td;
}

function fill(table, rows) {
  table.tBodies[0].replaceChildren(...rows);
}

function row(...cells) {
  const tr = document.createElement('tr');
  tr.append(...cells.map((c) => (c instanceof Node ? c : cell(c))));
  return tr;
}

function message(el, ok, text) {
  el.className = ok ? 'approved' : 'refused';
  el.dataset.outcome = ok ? 'ok' : 'error';
  el.textContent = text;
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');

// --- tabs -------------------------------------------------------------------------------------------------------
function showTab() {
  const id = (location.hash || '#members').slice(1);
  for (const s of document.querySelectorAll('section.tab')) s.hidden = s.id !== id;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('current', a.getAttribute('href') === `#${id}`);
  ({ members: loadMembers, books: loadBooks, loans: loadLoans, usage: loadUsage })[id]?.();
}
window.addEventListener('hashchange', showTab);

// --- members ----------------------------------------------------------------------------------------------------
let photo = null;
const preview = $('photo-preview');
function setPhoto(dataUrl) {
  photo = dataUrl;
  preview.src = dataUrl ?? '';
  preview.hidden = !dataUrl;
}

$('photo-file').addEventListener('change', () => {
  const file = $('photo-file').files[0];
  if (!file) return setPhoto(null);
  const reader = new FileReader();
  reader.onload = () => setPhoto(reader.result);
  reader.readAsDataURL(file);
});

let stream = null;
$('start-camera').addEventListener('click', async () => {
  const video = $('enrol-camera');
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    video.srcObject = stream;
    video.hidden = false;
    $('take-photo').hidden = false;
  } catch (e) {
    message($('enrol-result'), false, `The webcam could not be started (${e.name}).`);
  }
});

function stopCamera() {
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  $('enrol-camera').hidden = true;
  $('take-photo').hidden = true;
}

$('take-photo').addEventListener('click', () => {
  const video = $('enrol-camera');
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext('2d').drawImage(video, 0, 0);
  setPhoto(canvas.toDataURL('image/jpeg', 0.92));
  stopCamera();
});

$('enrol').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const result = $('enrol-result');
  if (!photo) return message(result, false, 'Choose a photo file or take one with the webcam.');
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  message(result, true, 'Enrolling…');
  try {
    const out = await api('POST', '/api/staff/members', { name: form.elements.name.value, number: form.elements.number.value, photo });
    message(result, true, `Enrolled ${out.name} as member ${out.number}.`);
    form.reset();
    setPhoto(null);
    await loadMembers();
  } catch (e) {
    message(result, false, e.message);
  } finally {
    button.disabled = false;
  }
});

async function loadMembers() {
  const members = await api('GET', '/api/staff/members');
  fill(
    $('member-table'),
    members.map((m) => {
      const remove = document.createElement('button');
      remove.textContent = 'Remove';
      remove.className = 'danger';
      remove.addEventListener('click', async () => {
        if (!confirm(`Remove member ${m.number} (${m.name})? Their photo and face vector are deleted.`)) return;
        try {
          await api('DELETE', `/api/staff/members/${encodeURIComponent(m.number)}`);
          message($('enrol-result'), true, `Removed member ${m.number}; their photo and face vector are deleted.`);
        } catch (e) {
          message($('enrol-result'), false, e.message);
        }
        await loadMembers();
      });
      const td = document.createElement('td');
      td.append(remove);
      return row(m.number, m.name, when(m.enrolledAt), String(m.openLoans), td);
    }),
  );
}

// --- books ------------------------------------------------------------------------------------------------------
$('add-book').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  try {
    const book = await api('POST', '/api/staff/books', { code: form.elements.code.value, title: form.elements.title.value, author: form.elements.author.value });
    message($('book-result'), true, `Added "${book.title}".`);
    form.reset();
  } catch (e) {
    message($('book-result'), false, e.message);
  }
  await loadBooks();
});

async function loadBooks() {
  const books = await api('GET', '/api/staff/books');
  fill($('book-table'), books.map((b) => row(b.code, b.title, b.author, b.onLoanTo ?? '')));
}

// --- loans ------------------------------------------------------------------------------------------------------
async function loadLoans() {
  const { loans, attempts } = await api('GET', '/api/staff/loans');
  fill(
    $('loan-table'),
    loans.map((l) => {
      let returned;
      if (l.returnedAt) returned = when(l.returnedAt);
      else {
        returned = document.createElement('td');
        const b = document.createElement('button');
        b.textContent = 'Return';
        b.addEventListener('click', async () => {
          await api('POST', `/api/staff/loans/${l.id}/return`, {});
          await loadLoans();
        });
        returned.append(b);
      }
      return row(l.title, `${l.memberNumber} ${l.memberName ?? '(removed)'}`, when(l.borrowedAt), when(l.dueAt), l.mode === 'face-search' ? 'face only' : 'number + face', l.similarity.toFixed(1), returned);
    }),
  );
  fill(
    $('attempt-table'),
    attempts.map((a) => {
      const outcome = cell(a.outcome);
      outcome.className = a.outcome;
      return row(when(a.at), outcome, a.memberNumber ?? '', a.bookCode, a.similarity == null ? '' : a.similarity.toFixed(1), a.reason);
    }),
  );
}

// --- key usage --------------------------------------------------------------------------------------------------
const SVG = 'http://www.w3.org/2000/svg';
const COLOURS = ['#2f6fde', '#e0803a', '#3aa66b', '#b04fc2', '#c9443c', '#6b7a8f'];

function svg(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** A stacked bar chart of key uses per time slot and event name. */
function chart(events, since, hours) {
  const slots = hours <= 1 ? 12 : hours <= 24 ? 24 : 28;
  const start = new Date(since).getTime();
  const width = (hours * 3600 * 1000) / slots;
  const names = [...new Set(events.map((e) => e.name))].sort();
  const counts = Array.from({ length: slots }, () => Object.fromEntries(names.map((n) => [n, 0])));
  for (const e of events) {
    const i = Math.min(slots - 1, Math.max(0, Math.floor((new Date(e.time).getTime() - start) / width)));
    counts[i][e.name] += 1;
  }
  const max = Math.max(1, ...counts.map((c) => Object.values(c).reduce((a, b) => a + b, 0)));
  const W = 760, H = 280, left = 40, bottom = 40, top = 50;
  const plotH = H - bottom - top;
  const barW = (W - left - 10) / slots;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': `Library key uses per ${hours <= 1 ? '5 minutes' : hours <= 24 ? 'hour' : '6 hours'}` });
  root.append(svg('line', { x1: left, y1: top + plotH, x2: W - 10, y2: top + plotH, stroke: '#888' }));
  for (const f of [0, 0.5, 1]) {
    const y = top + plotH - f * plotH;
    root.append(svg('text', { x: left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11 }, String(Math.round(f * max))));
    root.append(svg('line', { x1: left, y1: y, x2: W - 10, y2: y, stroke: '#ddd' }));
  }
  counts.forEach((c, i) => {
    let y = top + plotH;
    names.forEach((n, k) => {
      const h = (c[n] / max) * plotH;
      if (h > 0) {
        const rect = svg('rect', { x: left + i * barW + 2, y: y - h, width: Math.max(1, barW - 4), height: h, fill: COLOURS[k % COLOURS.length] });
        rect.append(svg('title', {}, `${n}: ${c[n]}`));
        root.append(rect);
      }
      y -= h;
    });
    if (i % Math.ceil(slots / 6) === 0) {
      const t = new Date(start + i * width);
      const label = hours <= 24 ? t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : t.toLocaleDateString();
      root.append(svg('text', { x: left + i * barW, y: H - bottom + 16, 'font-size': 11 }, label));
    }
  });
  // The legend, wrapped onto as many lines as it needs above the plot.
  let lx = left;
  let ly = 6;
  names.forEach((n, k) => {
    const label = `${n} (${counts.reduce((a, c) => a + c[n], 0)})`;
    const w = 24 + label.length * 7;
    if (lx + w > W - 10) {
      lx = left;
      ly += 16;
    }
    root.append(svg('rect', { x: lx, y: ly, width: 12, height: 12, fill: COLOURS[k % COLOURS.length] }));
    root.append(svg('text', { x: lx + 16, y: ly + 10, 'font-size': 12 }, label));
    lx += w;
  });
  return root;
}

async function loadUsage() {
  const hours = Number($('usage-hours').value);
  const out = await api('GET', `/api/staff/key-usage?hours=${hours}`);
  $('usage-key').textContent = `Key ${out.keyArn}: ${out.events.length} uses since ${when(out.since)}.`;
  $('usage-chart').replaceChildren(chart(out.events, out.since, out.hours));
  fill(
    $('usage-table'),
    out.events.slice(0, 50).map((e) => row(when(e.time), e.name, e.user, e.invokedBy ?? '', e.objectArn ?? '', e.errorCode ?? '')),
  );
}
$('usage-hours').addEventListener('change', loadUsage);

showTab();
