//! `METADATA` read out of a wheel, for an index that advertises no metadata file: the
//! zip's end of central directory record (in the file's tail), the central directory,
//! then the one entry `{name}-{version}.dist-info/METADATA`, inflated, as uv does
//! with HTTP range requests. Pure: the caller fetches the byte ranges these functions
//! name ([`crate::actor::wheel_read`]), or hands over the whole file when the server
//! ignored `Range`.
//!
//! A wheel is untrusted input: every size and offset is checked against the file's
//! length and a cap before anything is read or allocated, and inflating stops at the
//! cap whatever the headers claim (a 1 MB entry may inflate to 1 GB).

use std::ops::Range;

/// The tail asked for first: the end of central directory record (22 bytes, wheels
/// carry no zip comment) and, in most wheels, the central directory and the
/// `.dist-info` entries too (they are written last).
pub const TAIL_BYTES: u64 = 16 * 1024;

/// The longest tail that can hold the end of central directory record: 22 bytes and
/// a comment of at most 65,535 (asked for when [`TAIL_BYTES`] did not hold it).
pub const MAX_TAIL_BYTES: u64 = zip::MAX_TAIL;

/// The largest central directory read (a wheel of ~100,000 files).
pub const MAX_DIRECTORY_BYTES: u64 = 16 * 1024 * 1024;

/// The largest `METADATA`, compressed or inflated (the README it carries included).
pub const MAX_METADATA_BYTES: u64 = 8 * 1024 * 1024;

use super::zip::{self, InflateError, LOCAL_LEN};

/// Why `METADATA` could not be read from a wheel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WheelError {
    /// No end of central directory record in the tail: not a zip file (or zip64,
    /// which wheels under 4 GiB never need).
    #[error("not a zip file (no end of central directory record)")]
    NotZip,
    /// The record or the directory names sizes or offsets outside the file.
    #[error("the zip's directory lies: {0}")]
    Lies(String),
    /// No `*.dist-info/METADATA` at the top of the wheel.
    #[error("the wheel has no .dist-info/METADATA")]
    NoMetadata,
    /// More than one `*.dist-info/METADATA`: which one is the wheel's is unknown.
    #[error("the wheel has {0} .dist-info directories with a METADATA")]
    SeveralMetadata(usize),
    /// Over a cap.
    #[error("{what} is over the {cap} byte cap")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The cap.
        cap: u64,
    },
    /// A compression method other than stored or deflate, or data that does not
    /// inflate.
    #[error("METADATA cannot be decompressed: {0}")]
    Compression(String),
}

/// Where the central directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    /// Bytes of the file holding it.
    pub range: (u64, u64),
    /// Entries it lists.
    pub entries: u16,
}

impl Directory {
    /// Its byte range in the file.
    pub fn bytes(&self) -> Range<u64> {
        self.range.0..self.range.1
    }
}

/// The `METADATA` entry, as the central directory gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataEntry {
    /// Its path in the wheel.
    pub name: String,
    /// 0 (stored) or 8 (deflate).
    pub method: u16,
    /// Compressed bytes.
    pub compressed: u64,
    /// Inflated bytes, as claimed.
    pub uncompressed: u64,
    /// Where its local header starts.
    pub local_offset: u64,
}

impl MetadataEntry {
    /// The bytes to read for it: its local header (whose name and extra field may be
    /// longer than the directory's: up to 64 KiB more is allowed for) and its data,
    /// within the file.
    pub fn bytes(&self, file_len: u64) -> Range<u64> {
        let end =
            self.local_offset + LOCAL_LEN as u64 + self.name.len() as u64 + self.compressed + 1024;
        self.local_offset..end.min(file_len)
    }
}

/// Finds the end of central directory record in `tail` (the file's last bytes; the
/// file is `file_len` long) and checks what it says against the file.
pub fn find_directory(tail: &[u8], file_len: u64) -> Result<Directory, WheelError> {
    if tail.len() as u64 > file_len {
        return Err(WheelError::NotZip);
    }
    let tail_start = file_len - tail.len() as u64;
    let eocd = zip::find_eocd(tail).ok_or(WheelError::NotZip)?;
    if eocd.is_zip64() {
        return Err(WheelError::Lies(
            "zip64 fields in a wheel under 4 GiB".into(),
        ));
    }
    let (entries, size, offset) = (eocd.entries as u16, eocd.size, eocd.offset);
    let eocd_pos = tail_start + eocd.at as u64;
    if offset.checked_add(size).is_none_or(|end| end > eocd_pos) {
        return Err(WheelError::Lies(format!(
            "a directory of {size} bytes at {offset} in a file of {file_len}"
        )));
    }
    if size > MAX_DIRECTORY_BYTES {
        return Err(WheelError::TooLarge {
            what: "the central directory",
            cap: MAX_DIRECTORY_BYTES,
        });
    }
    Ok(Directory {
        range: (offset, offset + size),
        entries,
    })
}

/// Finds the one `*.dist-info/METADATA` at the top of the wheel in the central
/// directory's bytes (`dir`, as located by [`find_directory`]).
pub fn find_metadata(
    dir: &[u8],
    d: &Directory,
    file_len: u64,
) -> Result<MetadataEntry, WheelError> {
    find_entry(dir, d, file_len, metadata_path)
}

/// Finds the one entry whose name `pick` accepts (and names) in the central
/// directory's bytes, with the checks of [`find_metadata`].
pub(crate) fn find_entry(
    dir: &[u8],
    d: &Directory,
    file_len: u64,
    pick: fn(&[u8]) -> Option<String>,
) -> Result<MetadataEntry, WheelError> {
    let mut found: Vec<MetadataEntry> = Vec::new();
    for e in zip::central_entries(dir, u64::from(d.entries)) {
        let e = e.map_err(WheelError::Lies)?;
        if let Some(name) = pick(e.name) {
            found.push(MetadataEntry {
                name,
                method: e.method,
                compressed: e.compressed,
                uncompressed: e.uncompressed,
                local_offset: e.local_offset,
            });
        }
    }
    let entry = match found.len() {
        0 => return Err(WheelError::NoMetadata),
        1 => found.remove(0),
        n => return Err(WheelError::SeveralMetadata(n)),
    };
    if entry.compressed > MAX_METADATA_BYTES || entry.uncompressed > MAX_METADATA_BYTES {
        return Err(WheelError::TooLarge {
            what: "METADATA",
            cap: MAX_METADATA_BYTES,
        });
    }
    let data_end = entry
        .local_offset
        .checked_add(LOCAL_LEN as u64 + entry.compressed);
    if data_end.is_none_or(|end| end > d.range.0 || end > file_len) {
        return Err(WheelError::Lies(format!(
            "METADATA at {} ({} bytes) past the entries' end",
            entry.local_offset, entry.compressed
        )));
    }
    Ok(entry)
}

/// `{dir}.dist-info/METADATA` at the wheel's top level.
fn metadata_path(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let (dir, file) = name.split_once('/')?;
    (file == "METADATA" && dir.ends_with(".dist-info") && !dir.contains('/'))
        .then(|| name.to_string())
}

/// `METADATA`'s bytes from `bytes`, the part of the file starting at the entry's
/// local header (at least [`MetadataEntry::bytes`]).
pub fn read_metadata(bytes: &[u8], entry: &MetadataEntry) -> Result<Vec<u8>, WheelError> {
    let start = zip::local_data_start(bytes)
        .ok_or_else(|| WheelError::Lies("no local header where the directory points".into()))?;
    let data = usize::try_from(entry.compressed)
        .ok()
        .and_then(|n| bytes.get(start..start.checked_add(n)?))
        .ok_or_else(|| WheelError::Lies("METADATA's data past what was read".into()))?;
    let out = zip::inflate_capped(data, entry.method, MAX_METADATA_BYTES, entry.uncompressed)
        .map_err(|e| match e {
            InflateError::Method(m) => WheelError::Compression(format!("method {m}")),
            InflateError::Damaged(e) => WheelError::Compression(e),
        })?;
    if out.len() as u64 > MAX_METADATA_BYTES {
        return Err(WheelError::TooLarge {
            what: "METADATA inflated",
            cap: MAX_METADATA_BYTES,
        });
    }
    Ok(out)
}

/// `METADATA` from a whole wheel in memory (a server that ignored `Range`).
pub fn metadata_of_whole(file: &[u8]) -> Result<Vec<u8>, WheelError> {
    entry_of_whole(file, metadata_path)
}

/// The one entry `pick` accepts, from a whole zip in memory.
pub(crate) fn entry_of_whole(
    file: &[u8],
    pick: fn(&[u8]) -> Option<String>,
) -> Result<Vec<u8>, WheelError> {
    let len = file.len() as u64;
    let tail = &file[file.len().saturating_sub(MAX_TAIL_BYTES as usize)..];
    let d = find_directory(tail, len)?;
    let dir = &file[d.range.0 as usize..d.range.1 as usize];
    let entry = find_entry(dir, &d, len, pick)?;
    let r = entry.bytes(len);
    read_metadata(&file[r.start as usize..r.end as usize], &entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::zip::{CENTRAL_SIGNATURE, EOCD_SIGNATURE, LOCAL_SIGNATURE};
    use std::io::Write;

    fn u32_at(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
    }

    /// A zip with the given (name, data) entries, stored or deflated.
    fn zip(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, deflate) in entries {
            let body = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc
            out.extend_from_slice(&(body.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0; 8]);
            central.extend_from_slice(&(body.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let start = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    const META: &[u8] = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\n";

    #[test]
    fn metadata_is_read_from_the_tail_the_directory_and_the_entry() {
        let pad = vec![7u8; 200_000];
        let z = zip(&[
            ("demo/__init__.py", b"x = 1\n", true),
            ("demo/big.bin", &pad, false),
            ("demo-1.0.dist-info/METADATA", META, true),
            ("demo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n", true),
        ]);
        let len = z.len() as u64;
        let tail = &z[(len - TAIL_BYTES) as usize..];
        let d = find_directory(tail, len).unwrap();
        assert_eq!(d.entries, 4);
        let r = d.bytes();
        let e = find_metadata(&z[r.start as usize..r.end as usize], &d, len).unwrap();
        assert_eq!(e.name, "demo-1.0.dist-info/METADATA");
        let b = e.bytes(len);
        assert!(
            b.start >= len - TAIL_BYTES,
            "the entry is in the tail already"
        );
        assert_eq!(
            read_metadata(&z[b.start as usize..b.end as usize], &e).unwrap(),
            META
        );
        assert_eq!(metadata_of_whole(&z).unwrap(), META);
    }

    #[test]
    fn a_long_zip_comment_needs_the_longest_tail() {
        let mut z = zip(&[("demo-1.0.dist-info/METADATA", META, true)]);
        let comment = vec![b'c'; 30_000];
        let n = z.len();
        z[n - 2..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
        z.extend_from_slice(&comment);
        let len = z.len() as u64;
        let first = &z[(len - TAIL_BYTES) as usize..];
        assert_eq!(find_directory(first, len), Err(WheelError::NotZip));
        assert_eq!(metadata_of_whole(&z).unwrap(), META);
    }

    #[test]
    fn a_wheel_without_or_with_two_metadata_is_a_clear_error() {
        let none = zip(&[("demo-1.0.dist-info/WHEEL", b"w", true)]);
        assert_eq!(metadata_of_whole(&none), Err(WheelError::NoMetadata));
        let nested = zip(&[("demo/x.dist-info/METADATA", META, true)]);
        assert_eq!(metadata_of_whole(&nested), Err(WheelError::NoMetadata));
        let two = zip(&[
            ("demo-1.0.dist-info/METADATA", META, true),
            ("other-1.0.dist-info/METADATA", META, true),
        ]);
        assert_eq!(metadata_of_whole(&two), Err(WheelError::SeveralMetadata(2)));
    }

    #[test]
    fn a_directory_that_lies_about_offsets_or_sizes_is_refused_before_reading() {
        let mut z = zip(&[("demo-1.0.dist-info/METADATA", META, true)]);
        let len = z.len();
        // The directory's offset field (EOCD + 16) pointing past the end.
        z[len - 6..len - 2].copy_from_slice(&(len as u32 + 10).to_le_bytes());
        assert!(matches!(metadata_of_whole(&z), Err(WheelError::Lies(_))));

        let mut z = zip(&[("demo-1.0.dist-info/METADATA", META, true)]);
        let dir_start = u32_at(&z, z.len() - 6) as usize;
        // The entry's local header offset (central + 42) past the end of the entries.
        z[dir_start + 42..dir_start + 46].copy_from_slice(&0x00FF_0000u32.to_le_bytes());
        assert!(matches!(metadata_of_whole(&z), Err(WheelError::Lies(_))));

        let mut z = zip(&[("demo-1.0.dist-info/METADATA", META, true)]);
        // A compressed size of almost 4 GiB: over the cap, never allocated.
        z[dir_start + 20..dir_start + 24].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert!(matches!(
            metadata_of_whole(&z),
            Err(WheelError::TooLarge { .. })
        ));

        assert_eq!(
            metadata_of_whole(b"not a zip at all, just text"),
            Err(WheelError::NotZip)
        );
        assert_eq!(find_directory(b"", 0), Err(WheelError::NotZip));
    }

    #[test]
    fn a_metadata_bomb_stops_at_the_cap() {
        // 64 MiB of spaces compress to ~64 KiB and claim to be 100 bytes.
        let spaces = vec![b' '; 64 << 20];
        let mut z = zip(&[("demo-1.0.dist-info/METADATA", &spaces, true)]);
        let dir_start = u32_at(&z, z.len() - 6) as usize;
        z[dir_start + 24..dir_start + 28].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(
            metadata_of_whole(&z),
            Err(WheelError::TooLarge {
                what: "METADATA inflated",
                cap: MAX_METADATA_BYTES
            })
        );
    }
}
