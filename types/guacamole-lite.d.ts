// The parts of guacamole-lite 1.2.0 Airlock uses (it ships no types): its per-connection
// transport. Airlock does not use its Server (signal handlers, console output, token crypto).
declare module 'guacamole-lite/lib/ClientConnection.js' {
  import type { EventEmitter } from 'node:events';
  import type { WebSocket } from 'ws';

  export interface GuacLiteLog {
    level: number;
    stdLog: (...args: unknown[]) => void;
    errorLog: (...args: unknown[]) => void;
  }

  export interface GuacLiteClientOptions {
    maxInactivityTime: number;
    log: GuacLiteLog;
    crypt: { cypher: string; key?: string };
    connectionDefaultSettings: Record<string, Record<string, unknown>>;
    allowedUnencryptedConnectionSettings: Record<string, string[]>;
  }

  export interface GuacLiteCallbacks {
    processConnectionSettings: (settings: unknown, callback: (err: Error | undefined, settings: unknown) => void) => void;
  }

  class ClientConnection extends EventEmitter {
    constructor(clientOptions: GuacLiteClientOptions, connectionId: number, webSocket: WebSocket, query: Record<string | symbol, unknown>, callbacks: GuacLiteCallbacks);
    readonly connectionId: number;
    guacamoleConnectionId: string | undefined;
    /** The browser side of the relay. */
    webSocket: WebSocket;
    /** The guacd side of the relay, once connect() ran. */
    guacdClient: { send(data: string, afterOpened?: boolean): void } | undefined;
    query: Record<string | symbol, unknown>;
    webSocket: WebSocket;
    state: number;
    readonly STATE_OPEN: number;
    readonly STATE_CLOSED: number;
    connect(guacdOptions: { host: string; port: number }): void;
    close(error?: Error): void;
    send(message: string): void;
    sendMessageToGuacd(message: Buffer | string): void;
    decryptToken(): unknown;
    /** Sends the library's own generic error text to the browser when guacd's socket fails. */
    handleGuacdError(error: unknown): void;
  }
  export default ClientConnection;
}

declare module 'guacamole-lite/lib/Logger.js' {
  export const LOGLEVEL: { QUIET: 0; ERRORS: 10; NORMAL: 20; VERBOSE: 30; DEBUG: 40 };
}
