// A collection's decrypted face vectors in memory, searchable by euclidean distance. The map is what the API
// edits (IndexFaces adds, DeleteFaces removes); search runs over a packed copy (one Float32Array of n x dim
// values, rebuilt after a change), comparing squared distances against the squared limit so that no square root
// or logistic is computed for the faces that cannot match.

export interface Near {
  id: string;
  distance: number;
}

export class FaceVectors<R> extends Map<string, { vector: Float32Array; row: R }> {
  #packed: { ids: string[]; matrix: Float32Array; dim: number } | undefined;

  override set(id: string, value: { vector: Float32Array; row: R }): this {
    this.#packed = undefined;
    return super.set(id, value);
  }

  override delete(id: string): boolean {
    this.#packed = undefined;
    return super.delete(id);
  }

  override clear(): void {
    this.#packed = undefined;
    super.clear();
  }

  #pack(dim: number): { ids: string[]; matrix: Float32Array; dim: number } {
    if (this.#packed && this.#packed.dim === dim) return this.#packed;
    const ids: string[] = [];
    const matrix = new Float32Array(this.size * dim);
    for (const [id, { vector }] of this) {
      if (vector.length !== dim) throw new RangeError(`face ${id} has a ${vector.length}-value vector; the probe has ${dim}`);
      matrix.set(vector, ids.length * dim);
      ids.push(id);
    }
    this.#packed = { ids, matrix, dim };
    return this.#packed;
  }

  /** The faces whose euclidean distance from `probe` is at most `maxDistance` (any order), with that distance. */
  within(probe: Float32Array, maxDistance: number): Near[] {
    const dim = probe.length;
    if (dim === 0) throw new RangeError('empty probe vector');
    const { ids, matrix } = this.#pack(dim);
    const limit = maxDistance * maxDistance;
    const out: Near[] = [];
    // The probe as float64, as descriptorDistance accumulates: the distances below equal its results exactly.
    const p = Float64Array.from(probe);
    for (let i = 0, base = 0; i < ids.length; i++, base += dim) {
      let sum = 0;
      for (let j = 0; j < dim; j++) {
        const d = matrix[base + j]! - p[j]!;
        sum += d * d;
      }
      if (sum <= limit) out.push({ id: ids[i]!, distance: Math.sqrt(sum) });
    }
    return out;
  }
}
