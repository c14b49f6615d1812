/** The synthetic test images of the engines page, shared with the test that classifies them in Node. */
export function patternRgb(seed: number, size: number): Uint8Array {
  const d = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) {
    const x = i % size;
    const y = Math.floor(i / size);
    d[i * 3] = (x * (seed + 3) * 7) % 256;
    d[i * 3 + 1] = (y * (seed + 5) * 11) % 256;
    d[i * 3 + 2] = ((x + y) * (seed + 7) * 13) % 256;
  }
  return d;
}
