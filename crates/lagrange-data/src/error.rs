//! The crate's single error type.
//!
//! Every variant produced by a reader carries the path of the file it was reading and names the
//! field (header entry, section, column, …) that was wrong, so a user can fix their file.

use std::path::PathBuf;

/// Everything that can go wrong while reading or preparing data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The operating system refused to read (or list) a path.
    #[error("{path}: I/O error: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A magic number or signature did not match the format.
    #[error("{path}: bad magic in {field}: expected {expected}, found {found}")]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// Which signature.
        field: String,
        /// What the format requires.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// The file ends before a field or the data it declares.
    #[error("{path}: truncated {field}: needs {needed} bytes, only {available} available")]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What was being read.
        field: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },
    /// A declared size or count does not match the file length (larger, or inconsistent).
    #[error("{path}: {field} declares {declared} bytes of data but the file holds {available}")]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// The declaring field.
        field: String,
        /// Bytes implied by the header.
        declared: u64,
        /// Bytes actually present.
        available: u64,
    },
    /// A header field could not be parsed or holds an impossible value.
    #[error("{path}: invalid {field} {value:?}: {reason}")]
    InvalidField {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// The offending value (possibly shortened).
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A required header field is absent.
    #[error("{path}: missing field {field}")]
    MissingField {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
    },
    /// A file referenced by (or required next to) another one does not exist.
    #[error("{path}: {field} refers to {missing}, which does not exist")]
    MissingFile {
        /// The referring file (or folder).
        path: PathBuf,
        /// The referring field.
        field: String,
        /// The missing file.
        missing: PathBuf,
    },
    /// The file uses a variant of the format this crate does not read.
    #[error("{path}: unsupported {field} {value:?} (supported: {supported})")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// The value found.
        value: String,
        /// What is supported.
        supported: String,
    },
    /// Two parts of a file (or of a file and its sidecar) disagree.
    #[error("{path}: inconsistent {field}: {reason}")]
    Inconsistent {
        /// The file.
        path: PathBuf,
        /// The field.
        field: String,
        /// The disagreement.
        reason: String,
    },
    /// A label lies outside the allowed range.
    #[error("{path}: label {label} at index {index} is outside 0..={max}")]
    LabelOutOfRange {
        /// The file.
        path: PathBuf,
        /// The item index.
        index: usize,
        /// The label.
        label: u8,
        /// The largest allowed label.
        max: u8,
    },
    /// A compressed stream is corrupt.
    #[error("{path}: corrupt compressed data: {reason}")]
    Decompress {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A JSON document could not be parsed or has the wrong shape.
    #[error("{path}: invalid JSON ({field}): {reason}")]
    Json {
        /// The file.
        path: PathBuf,
        /// Where in the document.
        field: String,
        /// The parser's message.
        reason: String,
    },
    /// A vendored file does not have the pinned SHA-256.
    #[error("{file}: checksum mismatch: expected sha256 {expected}, found {found}")]
    ChecksumMismatch {
        /// The file.
        file: PathBuf,
        /// Pinned checksum.
        expected: String,
        /// Actual checksum.
        found: String,
    },
    /// The format of a path could not be recognised.
    #[error("{path}: unrecognised format: {reason}")]
    UnknownFormat {
        /// The file or folder.
        path: PathBuf,
        /// What was tried.
        reason: String,
    },
    /// A preprocessing request does not fit the recording (window out of range, unknown channel…).
    #[error("{path}: cannot {operation}: {reason}")]
    InvalidRequest {
        /// The recording's source file (may be empty for in-memory data).
        path: PathBuf,
        /// The operation.
        operation: String,
        /// Why not.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shortens a value for an error message (at most 40 characters).
pub(crate) fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

/// Reads a whole file, mapping the error.
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}
