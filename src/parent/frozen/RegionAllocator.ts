/** A byte range of the spill file. */
export interface Region {
  offset: number;
  length: number;
}

/**
 * Hands out regions of one growing file: first fit from a free list sorted by offset, else at the
 * end. A released region merges with free neighbours (so freed space does not crumble into
 * pieces too small to reuse) and, when it reaches the end, shrinks the file's used length.
 *
 * Lengths are rounded up to `granule` bytes: a region freed by one conversation then also fits a
 * slightly longer one, and slivers smaller than a granule never appear. Callers keep the exact
 * byte count themselves; a region only says where those bytes are.
 */
export class RegionAllocator {
  /** Free regions below `end`, sorted by offset, never touching each other. */
  private readonly free: Region[] = [];
  private usedEnd = 0;

  constructor(private readonly granule = 4096) {}

  /** Where the used part of the file ends: nothing beyond it is allocated. */
  get end(): number {
    return this.usedEnd;
  }

  /** A region of at least `bytes` bytes, not overlapping any other allocated region. */
  allocate(bytes: number): Region {
    const length = Math.max(this.granule, Math.ceil(bytes / this.granule) * this.granule);
    const index = this.free.findIndex((region) => region.length >= length);
    if (index === -1) {
      const region = { offset: this.usedEnd, length };
      this.usedEnd += length;
      return region;
    }
    const found = this.free[index]!;
    const region = { offset: found.offset, length };
    if (found.length === length) this.free.splice(index, 1);
    else this.free[index] = { offset: found.offset + length, length: found.length - length };
    return region;
  }

  /** Gives `region` (as returned by {@link allocate}) back. */
  release(region: Region): void {
    let index = this.free.findIndex((free) => free.offset > region.offset);
    if (index === -1) index = this.free.length;
    let merged = { ...region };
    const before = this.free[index - 1];
    if (before !== undefined && before.offset + before.length === merged.offset) {
      merged = { offset: before.offset, length: before.length + merged.length };
      this.free.splice(--index, 1);
    }
    const after = this.free[index];
    if (after !== undefined && merged.offset + merged.length === after.offset) {
      merged.length += after.length;
      this.free.splice(index, 1);
    }
    if (merged.offset + merged.length === this.usedEnd) this.usedEnd = merged.offset;
    else this.free.splice(index, 0, merged);
  }

  /** Free regions below `end`, for tests and diagnostics. */
  get freeRegions(): readonly Region[] {
    return this.free;
  }
}
