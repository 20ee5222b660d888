// Picks the recording store the configuration names: the filesystem store (the embedded
// default) or an S3-compatible one (AIRLOCK_RECORDING_BACKEND=s3). The portal, the doctor and
// the CLI's `recordings verify` build theirs here.
import type { Config } from '../config.ts';
import { FilesystemStore, type RecordingStore } from '../../recordings/store.ts';
import { S3Store } from '../../recordings/s3-store.ts';

export function recordingStore(recording: Pick<Config['recording'], 'store' | 's3' | 'spool'>): RecordingStore & { destroy?: () => void } {
  return recording.s3 === undefined ? new FilesystemStore(recording.store) : new S3Store(recording.s3, recording.spool);
}
