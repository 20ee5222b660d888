// Types for the parts of guacamole-common-js 1.5.0 (npm ESM repackage, which ships none) that
// the session screens use. Shapes follow the library's JSDoc; anything unused is left out.
declare module 'guacamole-common-js' {
  namespace Guacamole {
    namespace Status {
      const Code: { fromHTTPCode(status: number): number };
    }

    class Status {
      constructor(code: number, message?: string);
      code: number;
      /** Absent when the status was derived from a WebSocket close code. */
      message: string | undefined;
      isError(): boolean;
    }

    class Display {
      getElement(): HTMLDivElement;
      getWidth(): number;
      getHeight(): number;
      scale(scale: number): void;
      getScale(): number;
      showCursor(shown: boolean): void;
      /** Calls `callback` once every queued drawing operation has been applied. */
      flush(callback?: () => void): void;
      onresize: ((width: number, height: number) => void) | null;
      oncursor: ((canvas: HTMLCanvasElement, x: number, y: number) => void) | null;
    }

    class InputStream {
      index: number;
      sendAck(message: string, code: number): void;
    }

    class OutputStream {
      index: number;
    }

    class Parser {
      receive(packet: string): void;
      oninstruction: ((opcode: string, args: string[]) => void) | null;
    }

    class UTF8Parser {
      decode(buffer: ArrayBuffer | Uint8Array): string;
    }

    abstract class Tunnel {
      state: number;
      setState(state: number): void;
      onerror: ((status: Status) => void) | null;
      onstatechange: ((state: number) => void) | null;
      static readonly State: {
        readonly CONNECTING: 0;
        readonly OPEN: 1;
        readonly CLOSED: 2;
        readonly UNSTABLE: 3;
      };
    }

    class WebSocketTunnel extends Tunnel {
      constructor(tunnelURL: string);
    }

    /**
     * Streams a Guacamole protocol dump over HTTP (fetch + ReadableStream), parsing instructions
     * as bytes arrive. A SessionRecording takes over its oninstruction/onerror/onstatechange.
     */
    class StaticHTTPTunnel extends Tunnel {
      constructor(url: string, crossDomain?: boolean, extraTunnelHeaders?: Record<string, string>);
      /** Content-Length of the response once known (a header string), else null. */
      size: string | number | null;
      oninstruction: ((opcode: string, args: string[]) => void) | null;
      connect(data?: string): void;
      disconnect(): void;
    }

    /**
     * Playback of a recorded session (1.5.0). There is no playback-rate control; `seek` replays
     * from the nearest keyframe whose state was captured earlier. Loading from a Blob is broken
     * in 1.5.0 (GUACAMOLE-1793): use a StaticHTTPTunnel.
     */
    class SessionRecording {
      /** The library's tunnel that only passes on what it is handed (used by the seekable player too). */
      static _PlaybackTunnel: new () => Tunnel & { oninstruction: ((opcode: string, args: string[]) => void) | null; receiveInstruction(opcode: string, args: string[]): void };
      constructor(source: Tunnel);
      connect(data?: string): void;
      disconnect(): void;
      abort(): void;
      getDisplay(): Display;
      isPlaying(): boolean;
      /** Milliseconds from the first frame to the current frame. */
      getPosition(): number;
      /** Milliseconds from the first frame to the last frame parsed so far. */
      getDuration(): number;
      play(): void;
      pause(): void;
      /** Moves to the frame nearest `position` ms; `callback` runs when done or cancelled. */
      seek(position: number, callback?: () => void): void;
      /** Cancels an in-progress seek (its callback still runs). */
      cancel(): void;
      onload: (() => void) | null;
      onerror: ((message: string) => void) | null;
      onabort: (() => void) | null;
      /** Once per parsed frame: the duration so far and the characters parsed so far. */
      onprogress: ((duration: number, parsedSize: number) => void) | null;
      onplay: (() => void) | null;
      onpause: (() => void) | null;
      onseek: ((position: number, current: number, total: number) => void) | null;
    }

    class Client {
      constructor(tunnel: Tunnel);
      /** The protocol and display state (layers as PNG data URLs), as the renderer worker stores keyframes. */
      exportState(callback: (state: object) => void): void;
      /** Replaces every layer with those of an exported state; `callback` once drawn. */
      importState(state: object, callback?: () => void): void;
      connect(data?: string): void;
      disconnect(): void;
      getDisplay(): Display;
      sendSize(width: number, height: number): void;
      /** `pressed` must be 1 or 0: it is sent as written, and guacd reads a number. */
      sendKeyEvent(pressed: 0 | 1, keysym: number): void;
      sendMouseState(state: Mouse.State, applyDisplayScale?: boolean): void;
      createClipboardStream(mimetype: string): OutputStream;
      onstatechange: ((state: number) => void) | null;
      onerror: ((status: Status) => void) | null;
      onclipboard: ((stream: InputStream, mimetype: string) => void) | null;
      /** A `msg` instruction: its code and arguments; returning false skips the join/leave events. */
      onmsg: ((code: number, args: string[]) => boolean | undefined) | null;
      static readonly State: {
        readonly IDLE: 0;
        readonly CONNECTING: 1;
        readonly WAITING: 2;
        readonly CONNECTED: 3;
        readonly DISCONNECTING: 4;
        readonly DISCONNECTED: 5;
      };
    }

    class Keyboard {
      constructor(element?: Element | Document);
      /**
       * Return false (or nothing) to prevent the browser's default action for the key, true to
       * let it happen: the library cancels the DOM event when the handler's result is falsy.
       */
      onkeydown: ((keysym: number) => boolean | void) | null;
      onkeyup: ((keysym: number) => void) | null;
      /** Releases every key it believes pressed (firing onkeyup for each). */
      reset(): void;
    }

    namespace Mouse {
      class State {
        x: number;
        y: number;
        left: boolean;
        middle: boolean;
        right: boolean;
        up: boolean;
        down: boolean;
      }
      class Event {
        type: string;
        state: State;
      }
    }

    namespace Mouse {
      /** Taps as clicks, a long press as a right click, drags as moves (touch devices). */
      class Touchscreen {
        constructor(element: Element);
        onEach(types: readonly string[], listener: (event: Mouse.Event) => void): void;
        offEach(types: readonly string[], listener: (event: Mouse.Event) => void): void;
      }
    }

    class Mouse {
      constructor(element: Element);
      onEach(types: readonly string[], listener: (event: Mouse.Event) => void): void;
      offEach(types: readonly string[], listener: (event: Mouse.Event) => void): void;
      setCursor(canvas: HTMLCanvasElement, x: number, y: number): boolean;
    }

    class StringReader {
      constructor(stream: InputStream);
      ontext: ((text: string) => void) | null;
      onend: (() => void) | null;
    }

    class StringWriter {
      constructor(stream: OutputStream);
      sendText(text: string): void;
      sendEnd(): void;
    }
  }

  export default Guacamole;
}
