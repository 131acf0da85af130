// The kiosk: one camera frame per attempt, sent to the library server and then dropped.
const video = document.getElementById('camera');
const status = document.getElementById('camera-status');
const form = document.getElementById('borrow');
const memberField = document.getElementById('member-field');
const memberInput = document.getElementById('member-number');
const bookSelect = document.getElementById('book');
const button = document.getElementById('borrow-button');
const result = document.getElementById('result');

async function startCamera() {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
    video.srcObject = stream;
    await video.play();
    status.textContent = 'Camera ready.';
    status.dataset.ready = 'true';
  } catch (e) {
    status.textContent = `The camera could not be started (${e.name}).`;
  }
}

async function loadBooks() {
  const res = await fetch('/api/kiosk/books');
  const books = await res.json();
  bookSelect.replaceChildren();
  for (const b of books.filter((b) => b.available)) {
    const option = document.createElement('option');
    option.value = b.code;
    option.textContent = `${b.title} (${b.author})`;
    bookSelect.append(option);
  }
  if (!bookSelect.options.length) {
    const option = document.createElement('option');
    option.textContent = 'No books available';
    option.value = '';
    bookSelect.append(option);
  }
}

/** One JPEG frame from the camera, as a data URL; the canvas is cleared straight after. */
function captureFrame() {
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth || 640;
  canvas.height = video.videoHeight || 480;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
  const frame = canvas.toDataURL('image/jpeg', 0.92);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  canvas.width = 0;
  return frame;
}

function show(outcome, title, detail) {
  result.hidden = false;
  result.className = outcome;
  result.dataset.outcome = outcome;
  const h = document.createElement('h2');
  h.textContent = title;
  const p = document.createElement('p');
  p.textContent = detail;
  result.replaceChildren(h, p);
}

form.addEventListener('change', () => {
  memberField.hidden = form.elements.mode.value !== 'member-number';
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!status.dataset.ready) return show('refused', 'No camera', 'The kiosk needs its camera to check your face.');
  button.disabled = true;
  result.hidden = true;
  show('pending', 'Checking your face…', 'Please keep looking at the camera.');
  try {
    const mode = form.elements.mode.value;
    const body = { bookCode: bookSelect.value, frame: captureFrame() };
    if (mode === 'member-number') body.memberNumber = memberInput.value.trim();
    const res = await fetch('/api/kiosk/borrow', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const out = await res.json();
    if (!res.ok) show('refused', 'Something went wrong', out.error ?? `HTTP ${res.status}`);
    else if (out.approved) {
      show('approved', 'Loan approved', `${out.member.name}, enjoy "${out.book.title}". Please return it by ${new Date(out.dueAt).toLocaleDateString()}. (Similarity ${out.similarity.toFixed(1)})`);
      memberInput.value = '';
    } else show('refused', 'Loan refused', out.reason);
  } catch (e) {
    show('refused', 'Something went wrong', String(e));
  } finally {
    button.disabled = false;
    await loadBooks();
  }
});

startCamera();
loadBooks();
