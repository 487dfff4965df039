// The LadLe listening test page: plain JavaScript over the Web Audio API, no build step, no CDN.
//
// Every stimulus of a trial plays at once from the same offset, each through its own gain; only the
// selected one is audible. Switching ramps one gain down and the other up over XFADE_S, so the
// switch is seamless, at the same playback position, with no click (the approach of webMUSHRA).
"use strict";

const XFADE_S = 0.02; // gain crossfade on a switch
const FADE_S = 0.015; // master fade when playback starts, stops or jumps
const MIN_LOOP_S = 0.5;
const LISTENER_KEY = "ladle-listener";

const state = {
  ctx: null, master: null, test: null, queue: [], trial: null,
  buffers: new Map(), gains: new Map(), sources: [],
  active: null, playing: false, silentAt: 0, startedAt: 0, startOffset: 0, pausedAt: 0,
  loop: { start: 0, end: 0 }, ratings: new Map(), busy: false,
};
window.ladle = { state, position }; // for the browser test and for anyone curious in the console

const $ = (id) => document.getElementById(id);

function listenerId() {
  const fromUrl = new URLSearchParams(location.search).get("listener");
  if (fromUrl && /^[A-Za-z0-9_-]{1,64}$/.test(fromUrl)) localStorage.setItem(LISTENER_KEY, fromUrl);
  let id = localStorage.getItem(LISTENER_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    id = "l-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(LISTENER_KEY, id); // a listener who closes the tab comes back as the same listener
  }
  return id;
}

function fail(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function start() {
  const listener = listenerId();
  const response = await fetch(`/api/test?listener=${encodeURIComponent(listener)}`);
  if (!response.ok) return fail(`Could not load the test (${response.status}).`);
  state.test = await response.json();
  try {
    state.ctx = new AudioContext({ sampleRate: state.test.sample_rate }); // no resampling of the stimuli
  } catch (e) {
    state.ctx = new AudioContext();
  }
  state.master = state.ctx.createGain();
  state.master.connect(state.ctx.destination);
  state.queue = state.test.trials.filter((t) => !state.test.submitted.includes(t.excerpt));
  setUpScale();
  await nextTrial();
}

function setUpScale() {
  const s = state.test.scale;
  if (s.name === "ladle") {
    $("scale-low").textContent = `${s.min}: ${s.low}`;
    $("scale-mid").textContent = "0: the same";
    $("scale-high").textContent = `+${s.max}: ${s.high}`;
    $("instructions").textContent = "Rate each stimulus against the lossy input: how much better or worse does it sound? " +
      "The reference is the lossless original.";
  } else {
    $("scale-low").textContent = `${s.min}: ${s.low}`;
    $("scale-mid").textContent = "50: fair";
    $("scale-high").textContent = `${s.max}: ${s.high}`;
    $("instructions").textContent = "Rate each stimulus against the reference (MUSHRA): one of them is the reference itself.";
  }
}

function showProgress() {
  const total = state.test.trials.length;
  const done = total - state.queue.length;
  $("progress-bar").style.width = `${(100 * done) / total}%`;
  $("progress").setAttribute("aria-valuemax", String(total));
  $("progress").setAttribute("aria-valuenow", String(done));
  $("progress-text").textContent = state.queue.length ? `excerpt ${done + 1} of ${total}` : `${total} of ${total} done`;
}

async function nextTrial() {
  stopSources();
  state.playing = false;
  showProgress();
  if (!state.queue.length) {
    $("trial").hidden = true;
    $("done").hidden = false;
    return;
  }
  const trial = state.queue[0];
  state.trial = null; // no key or button acts on a half-loaded trial
  $("status").textContent = "loading audio…";
  const all = [...trial.labelled, ...trial.stimuli];
  const buffers = new Map();
  await Promise.all(all.map(async (s) => {
    const response = await fetch(`/audio/${s.id}.wav`);
    if (!response.ok) throw new Error(`audio ${s.id}: ${response.status}`);
    buffers.set(s.id, await state.ctx.decodeAudioData(await response.arrayBuffer()));
  }));
  state.buffers = buffers;
  const duration = Math.min(...[...state.buffers.values()].map((b) => b.duration));
  state.loop = { start: 0, end: duration };
  state.pausedAt = 0;
  state.ratings = new Map(trial.stimuli.map((s) => [s.id, state.test.scale.default]));
  state.gains = new Map();
  for (const s of all) {
    const g = state.ctx.createGain();
    g.gain.value = 0;
    g.connect(state.master);
    state.gains.set(s.id, g);
  }
  state.trial = trial;
  buildTrialUi(trial);
  state.active = null;
  select(trial.labelled[0].id);
  $("trial-title").textContent = `Excerpt ${state.test.trials.length - state.queue.length + 1}: ${trial.title} (${duration.toFixed(1)} s)`;
  $("trial").hidden = false;
  $("status").textContent = "";
  drawTimeline();
}

function buildTrialUi(trial) {
  const labelled = $("labelled");
  labelled.replaceChildren();
  for (const s of trial.labelled) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = `play-${s.id}`;
    b.dataset.stimulus = s.id;
    b.textContent = `${s.name} (${s.key.toUpperCase()})`;
    b.addEventListener("click", () => { select(s.id); play(); });
    labelled.append(b);
  }
  const box = $("stimuli");
  box.querySelectorAll(".row").forEach((r) => r.remove());
  const scale = state.test.scale;
  trial.stimuli.forEach((s, i) => {
    const row = document.createElement("div");
    row.className = "row";
    const b = document.createElement("button");
    b.type = "button";
    b.id = `play-${s.id}`;
    b.dataset.stimulus = s.id;
    b.textContent = i < 9 ? `${s.label} (${i + 1})` : s.label;
    b.addEventListener("click", () => { select(s.id); play(); });
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: scale.min, max: scale.max, step: scale.step, value: scale.default });
    slider.id = `rate-${s.label}`;
    slider.dataset.stimulus = s.id;
    slider.setAttribute("aria-label", `Rating of ${s.label}`);
    const out = document.createElement("output");
    out.id = `value-${s.label}`;
    out.textContent = formatRating(scale.default);
    slider.addEventListener("input", () => {
      state.ratings.set(s.id, Number(slider.value));
      out.textContent = formatRating(Number(slider.value));
    });
    slider.addEventListener("focus", () => select(s.id)); // tabbing through the sliders switches what you hear
    row.append(b, slider, out);
    box.append(row);
  });
}

function formatRating(v) {
  return state.test.scale.name === "ladle" && v > 0 ? `+${v}` : String(v);
}

// ------------------------------------------------------------------------------------------ playback

function position() {
  if (!state.playing) return state.pausedAt;
  const elapsed = Math.max(state.ctx.currentTime - state.startedAt, 0);
  const pos = state.startOffset + elapsed;
  const { start, end } = state.loop;
  return pos < end ? pos : start + ((pos - start) % (end - start)); // AudioBufferSourceNode's own looping
}

function stopSources(when) {
  for (const src of state.sources) {
    try { src.stop(when); } catch (e) { /* never started */ }
  }
  state.sources = [];
}

function startSources(offset) {
  const { ctx } = state;
  const when = Math.max(ctx.currentTime + 0.03, state.silentAt + 0.005);
  for (const [id, buffer] of state.buffers) {
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.loop = true;
    src.loopStart = state.loop.start;
    src.loopEnd = state.loop.end;
    src.connect(state.gains.get(id));
    src.start(when, offset); // every stimulus from the same offset at the same instant: sample-aligned
    state.sources.push(src);
  }
  // after a pause the master is still fading out until silentAt: keep that fade, start once it is done
  state.master.gain.cancelScheduledValues(when);
  state.master.gain.setValueAtTime(0, when);
  state.master.gain.linearRampToValueAtTime(1, when + FADE_S);
  state.startedAt = when;
  state.startOffset = offset;
}

async function play() {
  if (state.playing || !state.trial) return;
  await state.ctx.resume();
  let offset = state.pausedAt;
  if (offset < state.loop.start || offset >= state.loop.end) offset = state.loop.start;
  state.playing = true;
  startSources(offset);
  $("play").textContent = "Pause";
  requestAnimationFrame(tick);
}

function pause() {
  if (!state.playing) return;
  state.pausedAt = position();
  const t = state.ctx.currentTime;
  state.master.gain.cancelScheduledValues(t);
  state.master.gain.setValueAtTime(state.master.gain.value, t);
  state.master.gain.linearRampToValueAtTime(0, t + FADE_S); // fade out, then stop: no click
  state.silentAt = t + FADE_S;
  stopSources(state.silentAt + 0.002);
  state.playing = false;
  $("play").textContent = "Play";
  drawTimeline();
}

function togglePlay() {
  if (state.playing) pause(); else play();
}

function jumpTo(seconds) {
  const wasPlaying = state.playing;
  if (wasPlaying) pause();
  state.pausedAt = Math.min(Math.max(seconds, state.loop.start), state.loop.end - 0.01);
  if (wasPlaying) play();
  drawTimeline();
}

function select(id) {
  if (id === state.active || !state.gains.has(id)) return;
  const t = state.ctx.currentTime;
  for (const [gid, g] of state.gains) {
    const target = gid === id ? 1 : 0;
    g.gain.cancelScheduledValues(t);
    g.gain.setValueAtTime(g.gain.value, t);
    g.gain.linearRampToValueAtTime(target, t + XFADE_S);
  }
  state.active = id;
  document.querySelectorAll("button[data-stimulus]").forEach((b) => b.classList.toggle("active", b.dataset.stimulus === id));
}

function setLoop(start, end) {
  const duration = Math.min(...[...state.buffers.values()].map((b) => b.duration));
  start = Math.max(0, start);
  end = Math.min(duration, end);
  if (end - start < MIN_LOOP_S) return ($("status").textContent = `A loop must last at least ${MIN_LOOP_S} s.`);
  const pos = position();
  const wasPlaying = state.playing;
  if (wasPlaying) pause();
  state.loop = { start, end };
  state.pausedAt = pos >= start && pos < end ? pos : start;
  if (wasPlaying) play();
  $("status").textContent = `Loop ${start.toFixed(1)}–${end.toFixed(1)} s`;
  drawTimeline();
}

function drawTimeline() {
  const duration = Math.min(...[...state.buffers.values()].map((b) => b.duration)) || 1;
  const pos = position();
  $("playhead").style.left = `${(100 * pos) / duration}%`;
  $("loop-region").style.left = `${(100 * state.loop.start) / duration}%`;
  $("loop-region").style.width = `${(100 * (state.loop.end - state.loop.start)) / duration}%`;
  $("time").textContent = `${pos.toFixed(1)} s`;
}

function tick() {
  drawTimeline();
  if (state.playing) requestAnimationFrame(tick);
}

// ------------------------------------------------------------------------------------------ rating

async function submit() {
  if (state.busy || !state.trial) return;
  state.busy = true;
  const trial = state.trial;
  const body = { listener: state.test.listener, excerpt: trial.excerpt, ratings: Object.fromEntries(state.ratings) };
  try {
    const response = await fetch("/api/submit", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const reply = await response.json().catch(() => ({}));
    if (!response.ok) {
      $("status").textContent = `Not recorded: ${reply.detail || response.status}`;
      return;
    }
    pause();
    state.queue.shift();
    $("status").textContent = "Recorded.";
    await nextTrial();
  } catch (e) {
    $("status").textContent = `Not recorded (${e.message}); try again.`;
  } finally {
    state.busy = false;
  }
}

function nudgeActive(direction) {
  const slider = document.querySelector(`input[data-stimulus="${state.active}"]`);
  if (!slider) return;
  slider.value = String(Number(slider.value) + direction * Number(slider.step));
  slider.dispatchEvent(new Event("input"));
}

document.addEventListener("keydown", (e) => {
  if (!state.trial || $("trial").hidden || e.ctrlKey || e.metaKey || e.altKey) return;
  const onSlider = e.target instanceof HTMLInputElement && e.target.type === "range";
  const onButton = e.target instanceof HTMLButtonElement;
  if (/^[1-9]$/.test(e.key)) {
    const s = state.trial.stimuli[Number(e.key) - 1];
    if (s) {
      select(s.id);
      $(`rate-${s.label}`).focus(); // the arrow keys now move this stimulus's slider
      play();
    }
  } else if (e.key === "r" || e.key === "R" || e.key === "l" || e.key === "L") {
    const s = state.trial.labelled.find((x) => x.key === e.key.toLowerCase());
    if (s) {
      select(s.id);
      if (document.activeElement instanceof HTMLInputElement) document.activeElement.blur(); // no slider to move
      play();
    }
  } else if (e.key === " ") {
    togglePlay();
  } else if ((e.key === "ArrowUp" || e.key === "ArrowDown") && !onSlider) {
    nudgeActive(e.key === "ArrowUp" ? 1 : -1);
  } else if (e.key === "[") {
    setLoop(position(), state.loop.end);
  } else if (e.key === "]") {
    setLoop(state.loop.start, position());
  } else if (e.key === "\\") {
    setLoop(0, Infinity);
  } else if (e.key === "Enter" && !onButton) {
    submit();
  } else {
    return;
  }
  e.preventDefault(); // space must not scroll the page or press the focused button twice
});

$("play").addEventListener("click", (e) => { e.currentTarget.blur(); togglePlay(); });
$("submit").addEventListener("click", submit);
$("loop-start").addEventListener("click", () => setLoop(position(), state.loop.end));
$("loop-end").addEventListener("click", () => setLoop(state.loop.start, position()));
$("loop-clear").addEventListener("click", () => setLoop(0, Infinity));
$("timeline").addEventListener("click", (e) => {
  const box = e.currentTarget.getBoundingClientRect();
  const duration = Math.min(...[...state.buffers.values()].map((b) => b.duration));
  jumpTo(((e.clientX - box.left) / box.width) * duration);
});

start().catch((e) => fail(`The test could not start: ${e.message}`));
