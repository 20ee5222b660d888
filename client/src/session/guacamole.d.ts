// Types for the parts of guacamole-common-js 1.5.0 (npm ESM repackage, which ships none) that
// the session screens use. Shapes follow the library's JSDoc; anything unused is left out.
declare module 'guacamole-common-js' {
  namespace Guacamole {
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

    abstract class Tunnel {
      state: number;
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

    class Client {
      constructor(tunnel: Tunnel);
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
      /** Return true to prevent the browser's default action for the key. */
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
