// A new assignment must wake the crew: a loud two-tone beep (Web Audio, no sound file) and the vibrator,
// repeated until someone acknowledges. Browsers only allow sound after a tap on the page, so the app
// asks for one tap (unlock) and remembers it for the session.

const REPEAT_MS = 2500;
const VIBRATION = [400, 150, 400, 150, 400];

let context = null;

export function unlockAudio() {
  const Context = window.AudioContext || window.webkitAudioContext;
  if (!Context) return false;
  if (!context) context = new Context();
  if (context.state === "suspended") context.resume().catch(() => {});
  return true;
}

export function audioReady() {
  return Boolean(context && context.state === "running");
}

function tone(start, frequency, seconds) {
  const oscillator = context.createOscillator();
  const gain = context.createGain();
  oscillator.type = "square";
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0.0001, start);
  gain.gain.exponentialRampToValueAtTime(0.6, start + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, start + seconds);
  oscillator.connect(gain).connect(context.destination);
  oscillator.start(start);
  oscillator.stop(start + seconds + 0.05);
}

function ringOnce() {
  if (audioReady()) {
    const now = context.currentTime;
    [880, 660, 880, 660].forEach((frequency, i) => tone(now + i * 0.3, frequency, 0.25));
  }
  if (navigator.vibrate) {
    try {
      navigator.vibrate(VIBRATION);
    } catch (error) {
      // Vibration refused before the first tap: the sound and the screen still alert.
    }
  }
}

export class Alarm {
  constructor() {
    this.timer = null;
  }

  get ringing() {
    return this.timer !== null;
  }

  start() {
    if (this.timer !== null) return;
    document.body.dataset.alarm = "ringing";
    ringOnce();
    this.timer = setInterval(ringOnce, REPEAT_MS);
  }

  stop() {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.timer = null;
    delete document.body.dataset.alarm;
    if (navigator.vibrate) {
      try {
        navigator.vibrate(0);
      } catch (error) {
        // nothing to stop
      }
    }
  }
}
