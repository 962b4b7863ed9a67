//! IDX files (the MNIST container), raw or gzip-compressed.
//!
//! Layout (big-endian): two zero bytes, a type byte (`0x08` = u8, the only type read here), the
//! number of dimensions, one u32 per dimension, then the data in row-major order. The reader
//! checks the magic, that the declared sizes fit in memory arithmetic, and that the data length
//! equals the product of the dimensions exactly. For gzip input it never reserves more than the
//! compressed length can possibly expand to (deflate's maximum ratio is below 1032:1).

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result, read_file};

/// IDX type code of unsigned bytes.
pub const IDX_TYPE_U8: u8 = 0x08;
/// Maximum deflate expansion ratio (used to bound allocations from gzip input).
const MAX_DEFLATE_RATIO: u64 = 1032;
/// Largest number of dimensions accepted.
const MAX_DIMS: u8 = 4;

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    pub dims: Vec<usize>,
    /// The values, row-major; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
    /// Whether the file was gzip-compressed.
    pub gzip: bool,
}

impl IdxArray {
    /// Number of items (the first dimension).
    pub fn count(&self) -> usize {
        self.dims.first().copied().unwrap_or(0)
    }

    /// Number of values per item (product of the remaining dimensions).
    pub fn item_len(&self) -> usize {
        self.dims.iter().skip(1).product()
    }
}

/// Returns true when `bytes` starts with the gzip signature.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Returns true when `bytes` starts like an uncompressed u8 IDX file.
pub fn looks_like_idx(bytes: &[u8]) -> bool {
    matches!(bytes, [0, 0, t, n, ..] if *t == IDX_TYPE_U8 && (1..=MAX_DIMS).contains(n))
}

/// Parses the magic and dimensions from the first bytes; returns dims and header length.
fn parse_header(head: &[u8], available: u64, path: &Path) -> Result<(Vec<usize>, usize)> {
    let magic = head.get(0..4).ok_or_else(|| DataError::Truncated {
        path: path.into(),
        field: "IDX magic number".into(),
        needed: 4,
        available,
    })?;
    if magic[0] != 0 || magic[1] != 0 {
        return Err(DataError::BadMagic {
            path: path.into(),
            field: "IDX magic number".into(),
            expected: "0x0000TTNN (two zero bytes, type, dimension count)".into(),
            found: format!(
                "0x{:02X}{:02X}{:02X}{:02X}",
                magic[0], magic[1], magic[2], magic[3]
            ),
        });
    }
    if magic[2] != IDX_TYPE_U8 {
        return Err(DataError::Unsupported {
            path: path.into(),
            field: "IDX data type".into(),
            value: format!("0x{:02X}", magic[2]),
            supported: "0x08 (unsigned byte)".into(),
        });
    }
    let ndims = magic[3];
    if ndims == 0 || ndims > MAX_DIMS {
        return Err(DataError::InvalidField {
            path: path.into(),
            field: "IDX dimension count".into(),
            value: ndims.to_string(),
            reason: format!("must be 1..={MAX_DIMS}"),
        });
    }
    let header_len = 4 + 4 * usize::from(ndims);
    let dim_bytes = head
        .get(4..header_len)
        .ok_or_else(|| DataError::Truncated {
            path: path.into(),
            field: "IDX dimensions".into(),
            needed: header_len as u64,
            available,
        })?;
    let dims: Vec<usize> = dim_bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    Ok((dims, header_len))
}

/// Product of the dimensions, or an error on overflow.
fn data_len(dims: &[usize], path: &Path) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::InvalidField {
            path: path.into(),
            field: "IDX dimensions".into(),
            value: format!("{dims:?}"),
            reason: "product overflows".into(),
        })
}

/// Parses an IDX file held in memory (raw, or gzip-compressed when it starts with `1f 8b`).
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    if is_gzip(bytes) {
        parse_idx_gz(bytes, path)
    } else {
        parse_idx_raw(bytes, path)
    }
}

fn parse_idx_raw(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let (dims, header_len) = parse_header(bytes, bytes.len() as u64, path)?;
    let n = data_len(&dims, path)?;
    let body = bytes.get(header_len..).unwrap_or(&[]);
    if body.len() != n {
        return Err(DataError::SizeMismatch {
            path: path.into(),
            field: format!("IDX dimensions {dims:?}"),
            declared: n as u64,
            available: body.len() as u64,
        });
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
        gzip: false,
    })
}

fn gz_err(path: &Path, e: std::io::Error) -> DataError {
    DataError::Decompress {
        path: path.into(),
        reason: e.to_string(),
    }
}

fn parse_idx_gz(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let mut dec = flate2::read::GzDecoder::new(bytes);
    // Read at most the largest possible header.
    let mut head = Vec::with_capacity(4 + 4 * usize::from(MAX_DIMS));
    (&mut dec)
        .take(4)
        .read_to_end(&mut head)
        .map_err(|e| gz_err(path, e))?;
    let ndims = head.get(3).copied().unwrap_or(0);
    if head.len() == 4 && (1..=MAX_DIMS).contains(&ndims) {
        (&mut dec)
            .take(4 * u64::from(ndims))
            .read_to_end(&mut head)
            .map_err(|e| gz_err(path, e))?;
    }
    let (dims, header_len) = parse_header(&head, head.len() as u64, path)?;
    let n = data_len(&dims, path)?;
    let bound = (bytes.len() as u64).saturating_mul(MAX_DEFLATE_RATIO);
    if n as u64 > bound {
        return Err(DataError::SizeMismatch {
            path: path.into(),
            field: format!("IDX dimensions {dims:?}"),
            declared: n as u64,
            available: bound,
        });
    }
    let mut data = Vec::with_capacity(n);
    (&mut dec)
        .take(n as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| gz_err(path, e))?;
    if data.len() != n {
        return Err(DataError::SizeMismatch {
            path: path.into(),
            field: format!("IDX dimensions {dims:?} (after {header_len} header bytes)"),
            declared: n as u64,
            available: data.len() as u64,
        });
    }
    Ok(IdxArray {
        dims,
        data,
        gzip: true,
    })
}

/// Reads an IDX file (raw or gzip) from disk.
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_file(path)?;
    parse_idx(&bytes, path)
}

/// Parses an image file: requires 3 dimensions (count × rows × cols).
pub fn parse_idx_images(bytes: &[u8], path: &Path) -> Result<IdxArray> {
    let arr = parse_idx(bytes, path)?;
    if arr.dims.len() != 3 {
        return Err(DataError::InvalidField {
            path: path.into(),
            field: "IDX dimension count".into(),
            value: arr.dims.len().to_string(),
            reason: "an image file (idx3) needs 3 dimensions".into(),
        });
    }
    Ok(arr)
}

/// Parses a label file: requires 1 dimension and every label `<= max_label`.
pub fn parse_idx_labels(bytes: &[u8], path: &Path, max_label: u8) -> Result<IdxArray> {
    let arr = parse_idx(bytes, path)?;
    if arr.dims.len() != 1 {
        return Err(DataError::InvalidField {
            path: path.into(),
            field: "IDX dimension count".into(),
            value: arr.dims.len().to_string(),
            reason: "a label file (idx1) needs 1 dimension".into(),
        });
    }
    if let Some((index, &label)) = arr.data.iter().enumerate().find(|(_, l)| **l > max_label) {
        return Err(DataError::LabelOutOfRange {
            path: path.into(),
            index,
            label,
            max: max_label,
        });
    }
    Ok(arr)
}

/// Encodes an uncompressed u8 IDX file (used by tests and tools).
pub fn encode_idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, IDX_TYPE_U8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn raw_and_gz_roundtrip() {
        let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
        let raw = encode_idx(&[2, 3, 4], &data);
        let p = Path::new("x.idx");
        let a = parse_idx_images(&raw, p).unwrap();
        assert_eq!(a.dims, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert!(!a.gzip);
        let b = parse_idx_images(&gz(&raw), p).unwrap();
        assert_eq!(b.data, data);
        assert!(b.gzip);
        assert_eq!(b.count(), 2);
        assert_eq!(b.item_len(), 12);
    }

    #[test]
    fn errors_name_the_problem() {
        let p = Path::new("bad.idx");
        let raw = encode_idx(&[3], &[1, 2, 3]);
        // bad magic
        let mut m = raw.clone();
        m[0] = 7;
        assert!(matches!(parse_idx(&m, p), Err(DataError::BadMagic { .. })));
        // unsupported type
        let mut t = raw.clone();
        t[2] = 0x0D;
        assert!(matches!(
            parse_idx(&t, p),
            Err(DataError::Unsupported { .. })
        ));
        // truncated data
        assert!(matches!(
            parse_idx(&raw[..raw.len() - 1], p),
            Err(DataError::SizeMismatch { .. })
        ));
        // truncated header
        assert!(matches!(
            parse_idx(&raw[..5], p),
            Err(DataError::Truncated { .. })
        ));
        // huge declared count, tiny file (raw and gz): no allocation, clean error
        let huge = encode_idx(&[u32::MAX, 1, 1], &[]);
        assert!(parse_idx(&huge, p).is_err());
        assert!(matches!(
            parse_idx(&gz(&huge), p),
            Err(DataError::SizeMismatch { .. })
        ));
        // label range
        let labels = encode_idx(&[3], &[1, 10, 3]);
        let e = parse_idx_labels(&labels, p, 9).unwrap_err();
        assert!(matches!(
            e,
            DataError::LabelOutOfRange {
                index: 1,
                label: 10,
                ..
            }
        ));
        assert!(e.to_string().contains("bad.idx"));
        // wrong rank
        assert!(parse_idx_images(&labels, p).is_err());
        assert!(parse_idx_labels(&encode_idx(&[1, 1, 1], &[0]), p, 9).is_err());
        // trailing garbage in gz
        let mut extra = raw.clone();
        extra.push(0);
        assert!(matches!(
            parse_idx(&gz(&extra), p),
            Err(DataError::SizeMismatch { .. })
        ));
        // corrupt gz stream
        let mut g = gz(&raw);
        let last = g.len() - 5;
        g[last] ^= 0xff;
        assert!(parse_idx(&g, p).is_err());
    }
}
