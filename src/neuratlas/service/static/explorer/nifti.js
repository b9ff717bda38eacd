// NIfTI-1 images decoded in the browser: the header, the voxel array and the affine.
// Only what the explorer draws: a 3D volume (the first one of a 4D file), any of the
// numeric data types, either byte order, gzipped or not. Pure functions, no DOM: the
// same code runs under `node --test`.

const HEADER_SIZE = 348;
const GZIP_MAGIC = [0x1f, 0x8b];

// NIfTI datatype code -> typed array; 64-bit integers and colour types are left out
// (no atlas ships them, and a float64 copy would hide the loss of precision)
const TYPES = {
  2: Uint8Array,
  4: Int16Array,
  8: Int32Array,
  16: Float32Array,
  64: Float64Array,
  256: Int8Array,
  512: Uint16Array,
  768: Uint32Array,
};

export class NiftiError extends Error {}

/** Whether the bytes are gzipped (the service sends .nii.gz; a proxy might not). */
function isGzip(bytes) {
  return bytes.length > 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/** Gunzip with the platform's native stream (browsers and Node >= 18): no library. */
async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A volume from the bytes of a .nii or .nii.gz file. */
export async function decodeNifti(buffer) {
  let bytes = new Uint8Array(buffer);
  if (isGzip(bytes)) bytes = await gunzip(bytes);
  return parseNifti(bytes);
}

/**
 * Parse an uncompressed NIfTI-1 file.
 *
 * Returns {dims: [nx, ny, nz], data (a typed array, x fastest), affine (4x4 voxel ->
 * mm, rows), slope, intercept, datatype}.
 */
export function parseNifti(bytes) {
  if (bytes.byteLength < HEADER_SIZE) {
    throw new NiftiError(`not a NIfTI file: ${bytes.byteLength} bytes, a header has 348`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = view.getInt32(0, true) === HEADER_SIZE;
  if (!little && view.getInt32(0, false) !== HEADER_SIZE) {
    throw new NiftiError("not a NIfTI-1 file: sizeof_hdr is not 348 in either byte order");
  }
  const i16 = (offset) => view.getInt16(offset, little);
  const f32 = (offset) => view.getFloat32(offset, little);

  const rank = i16(40);
  const dims = [1, 2, 3].map((axis) => (axis <= rank ? i16(40 + 2 * axis) : 1));
  const datatype = i16(70);
  const Type = TYPES[datatype];
  if (!Type) throw new NiftiError(`NIfTI datatype ${datatype} cannot be shown`);
  const voxOffset = f32(108);
  const count = dims[0] * dims[1] * dims[2];
  const start = Math.max(HEADER_SIZE, Math.round(voxOffset));
  const byteLength = count * Type.BYTES_PER_ELEMENT;
  if (start + byteLength > bytes.byteLength) {
    throw new NiftiError(
      `truncated NIfTI file: ${dims.join("x")} voxels need ${start + byteLength} bytes, ` +
        `the file has ${bytes.byteLength}`,
    );
  }
  const data = voxelArray(bytes, start, count, Type, little);
  const rawSlope = f32(112);
  // a slope of 0 (or NaN) means "not scaled", as in nibabel
  const scaled = Number.isFinite(rawSlope) && rawSlope !== 0;
  return {
    dims,
    data,
    datatype,
    affine: affineOf(view, little),
    slope: scaled ? rawSlope : 1,
    intercept: scaled && Number.isFinite(f32(116)) ? f32(116) : 0,
  };
}

function voxelArray(bytes, start, count, Type, little) {
  const size = Type.BYTES_PER_ELEMENT;
  const absolute = bytes.byteOffset + start;
  // a typed array over the same buffer needs aligned, native (little-endian) data;
  // otherwise copy once
  if (little && absolute % size === 0) return new Type(bytes.buffer, absolute, count);
  const copy = bytes.slice(start, start + count * size);
  if (!little && size > 1) {
    for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  }
  return new Type(copy.buffer, 0, count);
}

/** The voxel -> mm affine: sform if set, else qform, else the voxel sizes alone. */
function affineOf(view, little) {
  const i16 = (offset) => view.getInt16(offset, little);
  const f32 = (offset) => view.getFloat32(offset, little);
  const pixdim = [1, 2, 3].map((axis) => f32(76 + 4 * axis) || 1);
  if (i16(254) > 0) {
    const row = (offset) => [0, 1, 2, 3].map((c) => f32(offset + 4 * c));
    return [row(280), row(296), row(312), [0, 0, 0, 1]];
  }
  if (i16(252) > 0) {
    const qfac = f32(76) < 0 ? -1 : 1;
    const [b, c, d] = [256, 260, 264].map(f32);
    const offsets = [268, 272, 276].map(f32);
    return quaternionAffine([b, c, d], offsets, pixdim, qfac);
  }
  return [
    [pixdim[0], 0, 0, 0],
    [0, pixdim[1], 0, 0],
    [0, 0, pixdim[2], 0],
    [0, 0, 0, 1],
  ];
}

/** The qform affine (NIfTI-1 "method 2"): a rotation from a unit quaternion, then scaling. */
export function quaternionAffine([b, c, d], offsets, pixdim, qfac) {
  const a = Math.sqrt(Math.max(0, 1 - (b * b + c * c + d * d)));
  const rotation = [
    [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
    [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
    [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
  ];
  const scale = [pixdim[0], pixdim[1], pixdim[2] * qfac];
  return [
    ...rotation.map((row, r) => [...row.map((value, col) => value * scale[col]), offsets[r]]),
    [0, 0, 0, 1],
  ];
}
