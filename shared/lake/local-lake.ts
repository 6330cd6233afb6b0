import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InvalidArgument, Unavailable } from '../errors/app-error.js';
import type { Lake, LakeObject } from './lake.js';

/**
 * The lake on a local folder (the embedded default, `file://./data/lake`). Keys map to paths
 * under `root`. `put`/`putBuffer` write `<key>.<random>.tmp` in the target folder, fsync it and
 * rename it over the key, so readers see the old file or the new one, never a partial one.
 * Temp files (`*.tmp`) are never listed.
 */
export class LocalLake implements Lake {
  readonly root: string;
  readonly description: string;

  /** @param root folder of the lake; created on first write. Relative paths resolve against cwd. */
  constructor(root: string) {
    this.root = path.resolve(root);
    this.description = `file://${this.root}`;
  }

  async put(key: string, localFile: string): Promise<void> {
    const target = this.pathOf(key);
    await this.atomically(target, async (tmp) => {
      await fs.copyFile(localFile, tmp);
    });
  }

  async putBuffer(key: string, data: Buffer): Promise<void> {
    const target = this.pathOf(key);
    await this.atomically(target, async (tmp) => {
      await fs.writeFile(tmp, data);
    });
  }

  async list(prefix: string): Promise<LakeObject[]> {
    const cleaned = prefix.replace(/^\/+/, '');
    // Walk from the deepest existing folder the prefix names, then filter by the full prefix.
    const slash = cleaned.lastIndexOf('/');
    const dirKey = slash >= 0 ? cleaned.slice(0, slash) : '';
    const start = dirKey ? this.pathOf(dirKey) : this.root;
    const out: LakeObject[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw new Unavailable(`cannot list ${dir}: ${(err as Error).message}`, err);
      }
      for (const entry of entries) {
        const key = keyPrefix ? `${keyPrefix}/${entry.name}` : entry.name;
        if (entry.isDirectory()) {
          if (key.startsWith(cleaned) || cleaned.startsWith(`${key}/`)) await walk(path.join(dir, entry.name), key);
        } else if (entry.isFile() && !entry.name.endsWith('.tmp') && key.startsWith(cleaned)) {
          const st = await fs.stat(path.join(dir, entry.name));
          out.push({ key, size: st.size });
        }
      }
    };
    await walk(start, dirKey);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async getBuffer(key: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Unavailable(`cannot read lake object ${key}: ${(err as Error).message}`, err);
    }
  }

  /** The lake root itself: every object is already local. */
  async localRoot(_prefixes: string[]): Promise<string> {
    return this.root;
  }

  /** Deletes `key`; deleting a missing key is a no-op. */
  async delete(key: string): Promise<void> {
    try {
      await fs.unlink(this.pathOf(key));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new Unavailable(`cannot delete lake object ${key}: ${(err as Error).message}`, err);
    }
  }

  /** Absolute path of `key`; rejects keys that would escape the root. */
  pathOf(key: string): string {
    const cleaned = key.replace(/^\/+/, '');
    if (cleaned === '' || cleaned.split('/').some((s) => s === '..' || s === '.' || s === '')) {
      throw new InvalidArgument(`invalid lake key "${key}"`, [{ field: 'key', message: 'must be a relative /-separated path without . or .. segments' }]);
    }
    return path.join(this.root, ...cleaned.split('/'));
  }

  private async atomically(target: string, fill: (tmp: string) => Promise<void>): Promise<void> {
    const dir = path.dirname(target);
    const tmp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await fs.mkdir(dir, { recursive: true });
      await fill(tmp);
      const fh = await fs.open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(tmp, target);
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      throw new Unavailable(`cannot write lake object ${target}: ${(err as Error).message}`, err);
    }
  }
}
