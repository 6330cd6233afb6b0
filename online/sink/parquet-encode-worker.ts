import { parentPort } from 'node:worker_threads';
import type { ShowroomEvent } from '../../shared/domain/event.js';
import { errorMessage } from '../../shared/errors/app-error.js';
import { writeEventsParquet } from '../../shared/lake/parquet-codec.js';

/** Worker thread of ParquetEncoder: writes one event file per message. */
interface EncodeRequest {
  id: number;
  file: string;
  events: ShowroomEvent[];
}

parentPort?.on('message', (msg: EncodeRequest) => {
  writeEventsParquet(msg.file, msg.events).then(
    () => parentPort?.postMessage({ id: msg.id }),
    (err: unknown) => parentPort?.postMessage({ id: msg.id, error: errorMessage(err) }),
  );
});
