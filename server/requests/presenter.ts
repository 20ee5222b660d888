// What the live event stream (GET /api/events) tells a browser about a request it may see:
// that it changed and into which state, never who asked, where, or why.
import type { DomainEvent, DomainEventType } from '../events/bus.ts';

export interface LiveEventView {
  type: DomainEventType;
  requestId: string;
  state: string;
  at: string;
}

export const presentLiveEvent = (event: DomainEvent): LiveEventView => ({ type: event.type, requestId: event.requestId, state: event.state, at: event.at });
