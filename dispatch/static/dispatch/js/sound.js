// The priority-1 alarm, made with the Web Audio API (no sound files). Browsers only let a page make
// sound after the user has interacted with it: the first click or key press arms it.

let context = null;
const listeners = new Set();

export const soundStats = { alarms: 0, chimes: 0 };

function notify() {
  for (const listener of listeners) listener(soundReady());
}

export function soundReady() {
  return Boolean(context && context.state === "running");
}

export function onSoundChange(listener) {
  listeners.add(listener);
  listener(soundReady());
}

export async function armSound() {
  try {
    context = context || new (window.AudioContext || window.webkitAudioContext)();
    if (context.state !== "running") await context.resume();
  } catch {
    // no audio device: the screen still shows everything
  }
  notify();
}

function tone(frequency, start, length, volume = 0.25, type = "square") {
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.type = type;
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(volume, start + 0.02);
  gain.gain.setValueAtTime(volume, start + length - 0.05);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start(start);
  oscillator.stop(start + length + 0.02);
}

// Three rising two-tone pairs: unlike any phone or computer sound in the room.
export function alarm() {
  soundStats.alarms += 1;
  if (!soundReady()) return false;
  const now = context.currentTime + 0.05;
  for (let i = 0; i < 3; i += 1) {
    tone(880, now + i * 0.5, 0.2);
    tone(1175, now + i * 0.5 + 0.22, 0.2);
  }
  return true;
}

// A single soft chime for other alerts.
export function chime() {
  soundStats.chimes += 1;
  if (!soundReady()) return false;
  tone(660, context.currentTime + 0.05, 0.35, 0.15, "sine");
  return true;
}

for (const type of ["pointerdown", "keydown"]) {
  window.addEventListener(type, () => { if (!soundReady()) armSound(); }, { capture: true, passive: true });
}
