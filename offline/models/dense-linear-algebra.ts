/**
 * Small dense linear algebra on row-major Float64Array matrices, enough for the latent-factor
 * models: Cholesky factorisation of a symmetric positive definite matrix, solving with it and
 * inverting with it. No dependencies; O(n³) work, so meant for n up to a few thousand.
 */

/**
 * Factorises the n×n symmetric positive definite `a` in place into its lower Cholesky factor L
 * (a = L·Lᵀ); the strict upper triangle is zeroed. Returns false (leaving `a` partly overwritten)
 * when a pivot is not positive, i.e. `a` is not positive definite to working precision.
 */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= a[rj + k]! * a[rj + k]!;
    if (!(d > 0)) return false;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    const inv = 1 / ljj;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
      a[ri + j] = s * inv;
    }
    for (let k = j + 1; k < n; k++) a[rj + k] = 0;
  }
  return true;
}

/** Solves L·Lᵀ·x = b in place (`b` becomes x) with the factor from choleskyInPlace. */
export function choleskySolveInPlace(l: Float64Array, n: number, b: Float64Array): void {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[ri + k]! * b[k]!;
    b[i] = s / l[ri + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < n; k++) s -= l[k * n + i]! * b[k]!;
    b[i] = s / l[i * n + i]!;
  }
}

/**
 * Inverts the n×n symmetric positive definite `a` in place (a ← a⁻¹, full symmetric matrix):
 * Cholesky a = L·Lᵀ, then L⁻¹ in place, then a⁻¹ = L⁻ᵀ·L⁻¹. About n³ multiply-adds, no extra
 * n×n memory. Returns false when `a` is not positive definite.
 */
export function invertSpdInPlace(a: Float64Array, n: number): boolean {
  if (!choleskyInPlace(a, n)) return false;
  // L⁻¹ (lower triangular), column by column, in place.
  for (let j = 0; j < n; j++) {
    a[j * n + j] = 1 / a[j * n + j]!;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = 0;
      for (let k = j; k < i; k++) s -= a[ri + k]! * a[k * n + j]!;
      a[ri + j] = s / a[ri + i]!;
    }
  }
  // a⁻¹[i][j] = Σ_{k ≥ max(i,j)} M[k][i]·M[k][j] with M = L⁻¹; lower triangle first, row by
  // row from the top: entry (i, j ≤ i) reads rows k ≥ i of M, which are not yet overwritten.
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < n; k++) s += a[k * n + i]! * a[k * n + j]!;
      a[i * n + j] = s;
    }
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i]!;
  return true;
}
