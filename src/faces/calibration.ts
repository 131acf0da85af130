// The mapping from the face model's euclidean descriptor distance to Rekognition's 0..100 similarity.
// The constants were fitted with bench/faces-calibrate.ts (npm run bench:faces-calibrate) on every labelled image
// of ../shared/data/faces; docs/faces.md records the procedure and the figures.

/** Distance at which similarity is 50: the midpoint of the logistic curve. */
export const SIMILARITY_MIDPOINT = 0.5742;
/** Width of the logistic curve, in distance units: similarity falls from 80 to 50 over ln(4) times this. */
export const SIMILARITY_SCALE = 0.0755;

/** Rekognition's usual match threshold, and the similarity the calibration anchors. */
export const MATCH_SIMILARITY = 80;

/**
 * Similarity (0..100) from a descriptor distance: a decreasing logistic curve, 99.95 at distance 0 (an identical
 * image), 80 at distanceForSimilarity(80) (about 0.470, where the labelled impostor pairs accept 0.05 %), 50 at
 * SIMILARITY_MIDPOINT.
 */
export function similarityFromDistance(distance: number): number {
  if (!Number.isFinite(distance) || distance < 0) throw new RangeError(`not a distance: ${distance}`);
  const s = 100 / (1 + Math.exp((distance - SIMILARITY_MIDPOINT) / SIMILARITY_SCALE));
  return Math.min(100, Math.max(0, s));
}

/** The inverse of similarityFromDistance: the distance below which similarity exceeds `similarity`. */
export function distanceForSimilarity(similarity: number): number {
  if (!(similarity > 0 && similarity < 100)) throw new RangeError(`similarity must lie strictly between 0 and 100: ${similarity}`);
  return SIMILARITY_MIDPOINT + SIMILARITY_SCALE * Math.log(100 / similarity - 1);
}
