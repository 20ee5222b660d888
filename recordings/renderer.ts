// The one renderer of the Guacamole protocol outside the browser: headless Debian Chromium
// (playwright-core) running the same guacamole-common-js as the player, so a keyframe drawn here
// is the screen the player would have drawn (the same code decodes, composites and exports it).
// The worker feeds it a recording's instructions at full speed and takes snapshots
// (`Guacamole.Client.exportState()`, layers as PNG data URLs) and downscaled thumbnails.
//
// Why Chromium and not a Node canvas: fidelity is the library's own (a second implementation of
// the protocol's drawing would drift from the player), no native npm package is needed, and
// Debian ships the browser the tests already use. Measured speed: see bench/replay.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

/** LAB.md's flags for Debian's Chromium (no sandbox as root, no network chatter). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** util-linux's setpriv (Debian: always there). */
const SETPRIV = '/usr/bin/setpriv';

/**
 * Chromium raises its own processes' priority when it may (measured as root: the browser and GPU
 * processes at nice -8, renderers at 0, under a worker at nice 10), which would undo the worker's
 * low priority. A process without CAP_SYS_NICE may not: as root, Chromium is started through a
 * wrapper that drops that capability for it and everything it starts. Other users may not raise
 * their priority anyway (RLIMIT_NICE 0). Returns the program to launch and how to clean up.
 */
async function boundedChromium(chromiumPath: string): Promise<{ executablePath: string; cleanup: () => Promise<void> }> {
  if (process.getuid?.() !== 0 || !existsSync(SETPRIV)) return { executablePath: chromiumPath, cleanup: async () => {} };
  const dir = await mkdtemp(path.join(tmpdir(), 'airlock-chromium-'));
  const wrapper = path.join(dir, 'chromium');
  const quoted = `'${chromiumPath.replaceAll("'", "'\\''")}'`;
  await writeFile(wrapper, `#!/bin/sh\nexec ${SETPRIV} --inh-caps=-sys_nice --bounding-set=-sys_nice -- ${quoted} "$@"\n`, { mode: 0o700 });
  await chmod(wrapper, 0o700);
  return { executablePath: wrapper, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** guacamole-common-js as a classic script: its CommonJS build, with its export made a global. */
async function libraryScript(): Promise<string> {
  const file = createRequire(import.meta.url).resolve('guacamole-common-js');
  const source = await readFile(file, 'utf8');
  return `${source.replace(/module\.exports\s*=\s*Guacamole;\s*$/, '')}\nwindow.Guacamole = Guacamole;`;
}

/**
 * Runs in the page. Frames are fed without their `sync`s and the display is flushed once per
 * batch: Guacamole.Display renders one frame per animation frame (60 a second), which would cap
 * a full-speed replay at 60 frames a second; coalesced, a batch is one display frame.
 */
function pageMain(): void {
  type G = {
    SessionRecording: { _PlaybackTunnel: new () => { oninstruction: ((op: string, args: string[]) => void) | null } };
    Client: new (t: unknown) => { connect(): void; getDisplay(): Display; exportState(cb: (s: unknown) => void): void; importState(s: unknown, cb: () => void): void };
    Parser: new () => { receive(s: string): void; oninstruction: ((op: string, args: string[]) => void) | null };
  };
  type Display = { flush(cb: () => void): void; flatten(): HTMLCanvasElement; getWidth(): number; getHeight(): number };
  const Guac = (window as unknown as { Guacamole: G }).Guacamole;
  // The library flushes synchronously when the page has no focus: never wait for animation frames.
  document.hasFocus = () => false;
  const tunnel = new Guac.SessionRecording._PlaybackTunnel();
  const client = new Guac.Client(tunnel);
  client.connect();
  const display = client.getDisplay();
  const parser = new Guac.Parser();
  let lastSync: string | undefined;
  parser.oninstruction = (op, args) => {
    if (op === 'sync') {
      lastSync = args[0];
      return;
    }
    tunnel.oninstruction?.(op, args);
  };
  const flushed = () => new Promise<void>((resolve) => display.flush(resolve));
  (window as unknown as { __render: unknown }).__render = {
    async feed(text: string): Promise<void> {
      parser.receive(text);
      // The batch's last sync, so the client's own timestamp and state are a replay's.
      if (lastSync !== undefined) tunnel.oninstruction?.('sync', [lastSync]);
      lastSync = undefined;
      await flushed();
    },
    load(state: string): Promise<void> {
      return new Promise((resolve) => client.importState(JSON.parse(state) as unknown, resolve));
    },
    snapshot(): Promise<string> {
      return new Promise((resolve) => client.exportState((s) => resolve(JSON.stringify(s))));
    },
    async thumbnail(width: number, quality: number): Promise<string> {
      await flushed();
      const w = display.getWidth();
      const h = display.getHeight();
      if (w <= 0 || h <= 0) return '';
      const flat = display.flatten();
      const scale = Math.min(1, width / w);
      const c = document.createElement('canvas');
      c.width = Math.max(1, Math.round(w * scale));
      c.height = Math.max(1, Math.round(h * scale));
      const ctx = c.getContext('2d');
      if (ctx === null) return '';
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, c.width, c.height);
      ctx.drawImage(flat, 0, 0, c.width, c.height);
      return c.toDataURL('image/jpeg', quality);
    },
    size(): { width: number; height: number } {
      return { width: display.getWidth(), height: display.getHeight() };
    },
    // The screen for OCR: grey, lossless, enlarged (tesseract reads small screen fonts better at 2×).
    async ocrImage(scale: number): Promise<string> {
      await flushed();
      const w = display.getWidth();
      const h = display.getHeight();
      if (w <= 0 || h <= 0) return '';
      const c = document.createElement('canvas');
      c.width = Math.round(w * scale);
      c.height = Math.round(h * scale);
      const ctx = c.getContext('2d');
      if (ctx === null) return '';
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, c.width, c.height);
      ctx.filter = 'grayscale(1)';
      ctx.drawImage(display.flatten(), 0, 0, c.width, c.height);
      return c.toDataURL('image/png');
    },
    // A video frame: the screen at full size with a caption band below it (burned in, so a
    // frame cut out of the video still says what it is), even-sized for yuv420p. The screen is
    // copied at once and encoded by toBlob off the page's main thread, so the caller may feed the
    // next frames while this one encodes (recordings/export.ts keeps a few in flight).
    async frame(caption: string, quality: number): Promise<string> {
      await flushed();
      const w = Math.max(2, display.getWidth());
      const h = Math.max(2, display.getHeight());
      const band = 24;
      const c = document.createElement('canvas');
      c.width = w + (w % 2);
      c.height = h + band + ((h + band) % 2);
      const ctx = c.getContext('2d');
      if (ctx === null) return '';
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, c.width, c.height);
      if (display.getWidth() > 0 && display.getHeight() > 0) ctx.drawImage(display.flatten(), 0, 0);
      ctx.fillStyle = '#fff';
      ctx.font = '15px "DejaVu Sans Mono", monospace';
      ctx.textBaseline = 'middle';
      ctx.fillText(caption, 6, h + band / 2, c.width - 12);
      const blob = await new Promise<Blob | null>((resolve) => c.toBlob(resolve, 'image/jpeg', quality));
      if (blob === null) return '';
      return new Promise<string>((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(typeof reader.result === 'string' ? reader.result : '');
        reader.onerror = () => reject(new Error('the frame could not be read'));
        reader.readAsDataURL(blob);
      });
    },
  };
}

type PageApi = {
  feed(text: string): Promise<void>;
  load(state: string): Promise<void>;
  snapshot(): Promise<string>;
  thumbnail(width: number, quality: number): Promise<string>;
  size(): { width: number; height: number };
  frame(caption: string, quality: number): Promise<string>;
  ocrImage(scale: number): Promise<string>;
};

/** One recording being replayed in a page of its own. */
export class RenderSession {
  private readonly page: Page;

  constructor(page: Page) {
    this.page = page;
  }

  /** Replays whole frames (their text, `sync`s included) and waits until they are drawn. */
  async feed(text: string): Promise<void> {
    await this.page.evaluate((t) => (window as unknown as { __render: PageApi }).__render.feed(t), text);
  }

  /** Starts from an exported state (a keyframe), as the player does on a seek. */
  async load(state: string): Promise<void> {
    await this.page.evaluate((s) => (window as unknown as { __render: PageApi }).__render.load(s), state);
  }

  /** `Guacamole.Client.exportState()` as JSON: every layer and buffer, as PNG data URLs. */
  async snapshot(): Promise<string> {
    return this.page.evaluate(() => (window as unknown as { __render: PageApi }).__render.snapshot());
  }

  /** The screen, downscaled to `width` pixels wide, as JPEG bytes (empty before anything is drawn). */
  async thumbnail(width: number, quality = 0.7): Promise<Buffer> {
    const url = await this.page.evaluate(([w, q]) => (window as unknown as { __render: PageApi }).__render.thumbnail(w, q), [width, quality] as const);
    const comma = url.indexOf(',');
    return comma < 0 ? Buffer.alloc(0) : Buffer.from(url.slice(comma + 1), 'base64');
  }

  /** A video frame: the screen with `caption` burned in below it, as JPEG bytes. */
  async frame(caption: string, quality = 0.85): Promise<Buffer> {
    const url = await this.page.evaluate(([c, q]) => (window as unknown as { __render: PageApi }).__render.frame(c, q), [caption, quality] as const);
    const comma = url.indexOf(',');
    return comma < 0 ? Buffer.alloc(0) : Buffer.from(url.slice(comma + 1), 'base64');
  }

  /** The screen, grey and scaled, as PNG bytes for OCR (empty before anything is drawn). */
  async ocrImage(scale = 2): Promise<Buffer> {
    const url = await this.page.evaluate((s) => (window as unknown as { __render: PageApi }).__render.ocrImage(s), scale);
    const comma = url.indexOf(',');
    return comma < 0 ? Buffer.alloc(0) : Buffer.from(url.slice(comma + 1), 'base64');
  }

  async size(): Promise<{ width: number; height: number }> {
    return this.page.evaluate(() => (window as unknown as { __render: PageApi }).__render.size());
  }

  async close(): Promise<void> {
    await this.page.close().catch(() => undefined);
  }
}

/** A headless Chromium with the library loaded once; each recording gets a fresh page. */
export class GuacRenderer {
  private readonly browser: Browser;
  private readonly script: string;
  private readonly cleanup: () => Promise<void>;

  private constructor(browser: Browser, script: string, cleanup: () => Promise<void>) {
    this.browser = browser;
    this.script = script;
    this.cleanup = cleanup;
  }

  static async launch(chromiumPath: string = DEFAULT_CHROMIUM_PATH): Promise<GuacRenderer> {
    const script = await libraryScript();
    const bounded = await boundedChromium(chromiumPath);
    try {
      const browser = await chromium.launch({ executablePath: bounded.executablePath, headless: true, args: CHROMIUM_ARGS });
      return new GuacRenderer(browser, script, bounded.cleanup);
    } catch (err) {
      await bounded.cleanup();
      throw err;
    }
  }

  async open(): Promise<RenderSession> {
    const page = await this.browser.newPage();
    try {
      await page.setContent('<!doctype html><html><body></body></html>');
      await page.addScriptTag({ content: this.script });
      await page.evaluate(pageMain);
      return new RenderSession(page);
    } catch (err) {
      await page.close().catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await this.cleanup();
  }
}
