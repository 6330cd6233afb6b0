/**
 * FNV-1a, 32 bits, over the UTF-16 code units of `text`, as an unsigned integer. The one hash
 * showroom partitions, shards and buckets by (event-log partitions, dedupe buckets, batch shards,
 * generator seeds): stable across processes, platforms and versions — changing it would move
 * every customer to another partition and shard.
 */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
