import type { Endpoint } from "comlink";

/** Either end of a Node IPC channel: a `ChildProcess` in the parent, `process` in the child. */
export interface IpcChannel {
  send?(message: unknown): boolean;
  on(event: "message", listener: (message: unknown) => void): unknown;
  off(event: "message", listener: (message: unknown) => void): unknown;
}

/**
 * A Comlink endpoint over a Node IPC channel (`child_process.fork` with `serialization:
 * "advanced"`, so bytes travel as bytes and errors as objects). IPC has no transferables: what
 * Comlink marks for transfer is copied, which for a state is one copy across the process boundary
 * anyway. A message sent after the channel closed is dropped: the parent fails every pending call
 * when the child exits.
 */
/** What Comlink registers: a function or an object with `handleEvent` (typed here without the DOM library). */
type Listener = ((event: { data: unknown }) => void) | { handleEvent(event: { data: unknown }): void };

export function processEndpoint(channel: IpcChannel): Endpoint {
  const listeners = new Map<Listener, (message: unknown) => void>();
  const endpoint = {
    postMessage(message: unknown): void {
      try {
        channel.send?.(message);
      } catch {
        // the child is gone; its exit fails the calls that waited for an answer
      }
    },
    addEventListener(_type: string, listener: Listener): void {
      const deliver = (data: unknown) => {
        const event = { data };
        if (typeof listener === "function") listener(event);
        else listener.handleEvent(event);
      };
      listeners.set(listener, deliver);
      channel.on("message", deliver);
    },
    removeEventListener(_type: string, listener: Listener): void {
      const deliver = listeners.get(listener);
      if (deliver === undefined) return;
      listeners.delete(listener);
      channel.off("message", deliver);
    },
  };
  return endpoint;
}
