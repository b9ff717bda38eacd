// 4x4 affines (arrays of rows) mapping voxel indices to millimetres, and back.

/** The inverse of an affine whose last row is [0, 0, 0, 1]. */
export function invertAffine(m) {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  if (!det) throw new Error("the affine cannot be inverted (its determinant is 0)");
  const r = [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
  const t = [m[0][3], m[1][3], m[2][3]];
  return [
    ...r.map((row) => [...row, -(row[0] * t[0] + row[1] * t[1] + row[2] * t[2])]),
    [0, 0, 0, 1],
  ];
}

/** The affine applied to a point [x, y, z]. */
export function applyAffine(m, p) {
  return [0, 1, 2].map((r) => m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3]);
}

/** The affine's linear part applied to a vector (a step, not a position). */
export function applyLinear(m, v) {
  return [0, 1, 2].map((r) => m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2]);
}

/** Whether two affines are equal to within a micrometre (the same grid). */
export function sameAffine(m, n) {
  return m.every((row, r) => row.every((value, c) => Math.abs(value - n[r][c]) < 1e-3));
}
