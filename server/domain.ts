// Facts of the access domain that several layers share (requests, recordings, sessions, chat).

/** Minutes before a window's end at which the vendor (and chat) are warned. */
export const WARN_MINUTES = [10, 2] as const;
