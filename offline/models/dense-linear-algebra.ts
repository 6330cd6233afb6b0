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
 * Cholesky a = L·Lᵀ, U = (Lᵀ)⁻¹ (upper triangular), a⁻¹ = U·Uᵀ. About n³/2 multiply-adds, all
 * inner loops over contiguous rows (row-major), one extra row of memory. Returns false when `a`
 * is not positive definite.
 */
export function invertSpdInPlace(a: Float64Array, n: number): boolean {
  if (!choleskyInPlace(a, n)) return false;
  // R = Lᵀ into the upper triangle.
  for (let i = 0; i < n; i++) for (let k = i + 1; k < n; k++) a[i * n + k] = a[k * n + i]!;
  // U = R⁻¹ row by row from the bottom: row i of U = (e_i − Σ_{k>i} R[i][k]·U[k]) / R[i][i].
  const tmp = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    const ri = i * n;
    tmp.fill(0, i, n);
    for (let k = i + 1; k < n; k++) {
      const rik = a[ri + k]!;
      if (rik === 0) continue;
      const rk = k * n;
      for (let j = k; j < n; j++) tmp[j]! -= rik * a[rk + j]!;
    }
    const inv = 1 / a[ri + i]!;
    a[ri + i] = inv;
    for (let j = i + 1; j < n; j++) a[ri + j] = tmp[j]! * inv;
  }
  // a⁻¹[i][j] = Σ_{k ≥ i} U[i][k]·U[j][k] for j ≤ i, written below the diagonal (which only held
  // L); the diagonal U[i][i] is overwritten last and no later row reads it.
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      let s = 0;
      for (let k = i; k < n; k++) s += a[ri + k]! * a[rj + k]!;
      a[ri + j] = s;
    }
    let d = 0;
    for (let k = i; k < n; k++) d += a[ri + k]! * a[ri + k]!;
    a[ri + i] = d;
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i]!;
  return true;
}
