//! OSV's export of every PyPI advisory (`<export base>/PyPI/all.zip`): a zip of one
//! `{id}.json` per advisory, each the body `GET /v1/vulns/{id}` answers, read entry by
//! entry from a file on disk and parsed with [`super::osv::parse_record`]; and the rule
//! that decides which releases an advisory affects (OSV's servers decide it for the
//! API; offline, it is decided here, from the record's ranges and listed versions).
//!
//! The zip is untrusted input, read as the wheel reader reads one ([`super::wheel`]):
//! every size and offset is checked against the file's length and a cap before
//! anything is read or allocated, and inflating stops at the cap whatever the headers
//! claim. On top: a cap on entries, on each entry (an advisory is at most
//! [`MAX_OSV_BODY_BYTES`], as from the API) and on the bytes inflated in all (a zip
//! bomb, entries sharing their data included). Memory holds the directory's entries
//! (bounded by the entry cap) and one advisory at a time.
//!
//! One entry that is not an advisory (invalid JSON, another shape, a name that is not
//! its id) is skipped and counted; a zip that lies, is damaged (a CRC mismatch, data
//! that does not inflate) or is over a cap is refused whole: a partial set would
//! silently miss advisories.

use std::io::{Read, Seek, SeekFrom};

pub use super::osv::{AffectedPackage, RangeEvent};
use super::osv::{OsvAdvisory, parse_record};
use super::zip::{self, InflateError, LOCAL_LEN, ZIP64_EOCD_LEN};
use crate::cancel::CancelFlag;
use crate::model::limits::MAX_OSV_BODY_BYTES;

/// The caps a sync reads an export under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportLimits {
    /// Most entries in the zip's directory.
    pub max_entries: u64,
    /// Most bytes inflated over every entry.
    pub max_inflated_bytes: u64,
}

/// The largest central directory read (a few hundred thousand entries).
pub const MAX_DIRECTORY_BYTES: u64 = 64 * 1024 * 1024;
/// The largest advisory: one entry, compressed or inflated (as the API's body cap).
pub const MAX_ENTRY_BYTES: u64 = MAX_OSV_BODY_BYTES;

/// Why an export was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// No end of central directory record: not a zip file.
    #[error("not a zip file (no end of central directory record)")]
    NotZip,
    /// The directory names sizes or offsets outside the file, or entries that are not
    /// where it says.
    #[error("the zip's directory lies: {0}")]
    Lies(String),
    /// Over a cap.
    #[error("{what} is over the cap of {cap}")]
    TooLarge {
        /// What was too large.
        what: String,
        /// The cap.
        cap: u64,
    },
    /// An entry whose data does not inflate or does not match its CRC: the file is
    /// damaged.
    #[error("entry {name:?} is damaged: {detail}")]
    Damaged {
        /// The entry.
        name: String,
        /// How.
        detail: String,
    },
    /// The file could not be read.
    #[error("the file could not be read: {0}")]
    Io(String),
    /// The caller's deadline came first.
    #[error("stopped before the end (the deadline came)")]
    Cancelled,
}

fn io(e: std::io::Error) -> ExportError {
    ExportError::Io(e.to_string())
}

/// One entry as the central directory records it.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

/// One advisory of the export: what the view reports and what decides which releases
/// it affects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportAdvisory {
    /// As the API's parser reads it.
    pub advisory: OsvAdvisory,
    /// Its PyPI packages.
    pub packages: Vec<AffectedPackage>,
    /// Inflated bytes of its entry.
    pub bytes: u64,
}

/// One entry read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportItem {
    /// An advisory.
    Advisory(Box<ExportAdvisory>),
    /// An entry that is not an advisory (counted): its name and why.
    Skipped {
        /// The entry's name.
        name: String,
        /// Why it was skipped.
        why: String,
    },
}

/// An export open for reading, entry by entry, in the file's order.
#[derive(Debug)]
pub struct ExportReader<R> {
    file: R,
    entries: std::vec::IntoIter<Entry>,
    total: usize,
    inflated: u64,
    limits: ExportLimits,
}

impl<R: Read + Seek> ExportReader<R> {
    /// Reads the directory of the zip `file` (`len` bytes long) and checks it against
    /// the file and the caps, before any entry is read.
    pub fn open(mut file: R, len: u64, limits: ExportLimits) -> Result<Self, ExportError> {
        let (dir_offset, dir_size, count) = find_directory(&mut file, len)?;
        if count > limits.max_entries {
            return Err(ExportError::TooLarge {
                what: format!("a zip of {count} entries"),
                cap: limits.max_entries,
            });
        }
        if dir_size > MAX_DIRECTORY_BYTES {
            return Err(ExportError::TooLarge {
                what: format!("a central directory of {dir_size} bytes"),
                cap: MAX_DIRECTORY_BYTES,
            });
        }
        file.seek(SeekFrom::Start(dir_offset)).map_err(io)?;
        let mut dir = Vec::new();
        (&mut file)
            .take(dir_size)
            .read_to_end(&mut dir)
            .map_err(io)?;
        if dir.len() as u64 != dir_size {
            return Err(ExportError::Lies("the directory ends past the file".into()));
        }
        let mut entries = read_entries(&dir, count, dir_offset)?;
        let claimed: u64 = entries
            .iter()
            .map(|e| e.uncompressed.min(MAX_ENTRY_BYTES + 1))
            .fold(0u64, u64::saturating_add);
        if claimed > limits.max_inflated_bytes {
            return Err(ExportError::TooLarge {
                what: format!("entries claiming {claimed} bytes inflated"),
                cap: limits.max_inflated_bytes,
            });
        }
        // In the file's order: one pass forwards.
        entries.sort_by_key(|e| e.local_offset);
        Ok(ExportReader {
            file,
            total: entries.len(),
            entries: entries.into_iter(),
            inflated: 0,
            limits,
        })
    }

    /// Entries in the directory.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether the directory lists no entry.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Bytes inflated so far.
    pub fn inflated(&self) -> u64 {
        self.inflated
    }

    /// The next entry (directories and files other than `*.json` at the top are passed
    /// over), `None` at the end; an `Err` refuses the whole export. Checks `cancel`
    /// before each entry.
    pub fn next_item(&mut self, cancel: &CancelFlag) -> Option<Result<ExportItem, ExportError>> {
        loop {
            let e = self.entries.next()?;
            if cancel.is_raised() {
                return Some(Err(ExportError::Cancelled));
            }
            let Some(stem) = e
                .name
                .strip_suffix(".json")
                .filter(|s| !s.is_empty() && !s.contains('/'))
            else {
                continue;
            };
            if e.uncompressed > MAX_ENTRY_BYTES || e.compressed > MAX_ENTRY_BYTES {
                return Some(Ok(ExportItem::Skipped {
                    name: e.name.clone(),
                    why: format!(
                        "{} bytes, more than the {MAX_ENTRY_BYTES} an advisory may have",
                        e.uncompressed.max(e.compressed)
                    ),
                }));
            }
            let stem = stem.to_string();
            let body = match self.inflate(&e) {
                Ok(b) => b,
                Err(err) => return Some(Err(err)),
            };
            return Some(Ok(match parse_record(&stem, &body) {
                Ok((advisory, packages)) => ExportItem::Advisory(Box::new(ExportAdvisory {
                    advisory,
                    packages,
                    bytes: body.len() as u64,
                })),
                Err(why) => ExportItem::Skipped {
                    name: e.name.clone(),
                    why: why.to_string(),
                },
            }));
        }
    }

    /// The entry's bytes, inflated under the caps and checked against its CRC.
    fn inflate(&mut self, e: &Entry) -> Result<Vec<u8>, ExportError> {
        self.file
            .seek(SeekFrom::Start(e.local_offset))
            .map_err(io)?;
        let mut head = [0u8; LOCAL_LEN];
        self.file
            .read_exact(&mut head)
            .map_err(|_| ExportError::Lies(format!("no local header for {:?}", e.name)))?;
        let start = zip::local_data_start(&head).ok_or_else(|| {
            ExportError::Lies(format!(
                "no local header where the directory points for {:?}",
                e.name
            ))
        })?;
        let skip = (start - LOCAL_LEN) as i64;
        self.file.seek(SeekFrom::Current(skip)).map_err(io)?;
        let data = (&mut self.file).take(e.compressed);
        let left = self.limits.max_inflated_bytes.saturating_sub(self.inflated);
        let cap = MAX_ENTRY_BYTES.min(left);
        let damaged = |detail: String| ExportError::Damaged {
            name: e.name.clone(),
            detail,
        };
        let out =
            zip::inflate_capped(data, e.method, cap, e.uncompressed).map_err(|err| match err {
                InflateError::Method(m) => damaged(format!("compression method {m}")),
                InflateError::Damaged(d) => damaged(d),
            })?;
        if out.len() as u64 > cap {
            return Err(ExportError::TooLarge {
                what: if cap < MAX_ENTRY_BYTES {
                    "the bytes inflated in all".into()
                } else {
                    format!("entry {:?} inflated (a zip bomb)", e.name)
                },
                cap: if cap < MAX_ENTRY_BYTES {
                    self.limits.max_inflated_bytes
                } else {
                    MAX_ENTRY_BYTES
                },
            });
        }
        if out.len() as u64 != e.uncompressed {
            return Err(damaged(format!(
                "{} bytes inflated where the directory says {}",
                out.len(),
                e.uncompressed
            )));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&out);
        if crc.sum() != e.crc {
            return Err(damaged("its CRC does not match".into()));
        }
        self.inflated += out.len() as u64;
        Ok(out)
    }
}

/// `(offset, size, entries)` of the central directory, from the end of central
/// directory record (or its zip64 form), checked against the file.
fn find_directory<R: Read + Seek>(file: &mut R, len: u64) -> Result<(u64, u64, u64), ExportError> {
    if len < zip::EOCD_LEN as u64 {
        return Err(ExportError::NotZip);
    }
    let tail_len = len.min(zip::MAX_TAIL);
    file.seek(SeekFrom::Start(len - tail_len)).map_err(io)?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail).map_err(io)?;
    let eocd = zip::find_eocd(&tail).ok_or(ExportError::NotZip)?;
    let eocd_pos = len - tail_len + eocd.at as u64;
    let (mut count, mut size, mut offset) = (eocd.entries, eocd.size, eocd.offset);
    let mut end = eocd_pos;
    if eocd.is_zip64() {
        // Zip64: the locator sits just before the record and points at the zip64 one.
        let rec = eocd.zip64_record_offset(&tail).map_err(ExportError::Lies)?;
        if rec
            .checked_add(ZIP64_EOCD_LEN as u64)
            .is_none_or(|e| e > eocd_pos)
        {
            return Err(ExportError::Lies(format!(
                "a zip64 record at {rec} in a file of {len}"
            )));
        }
        file.seek(SeekFrom::Start(rec)).map_err(io)?;
        let mut r = [0u8; ZIP64_EOCD_LEN];
        file.read_exact(&mut r).map_err(io)?;
        (count, size, offset) = zip::zip64_record(&r).map_err(ExportError::Lies)?;
        end = rec;
    }
    if offset.checked_add(size).is_none_or(|e| e > end) {
        return Err(ExportError::Lies(format!(
            "a directory of {size} bytes at {offset} in a file of {len}"
        )));
    }
    Ok((offset, size, count))
}

/// The `count` entries of the directory `dir` (which starts at `dir_offset` in the
/// file: every entry's data must end before it).
fn read_entries(dir: &[u8], count: u64, dir_offset: u64) -> Result<Vec<Entry>, ExportError> {
    let mut out = Vec::with_capacity(count.min(1 << 20) as usize);
    for e in zip::central_entries(dir, count) {
        let e = e.map_err(ExportError::Lies)?;
        if e.data_end().is_none_or(|end| end > dir_offset) {
            return Err(ExportError::Lies(format!(
                "entry {:?} at {} ({} bytes) past the entries' end",
                e.name_lossy(),
                e.local_offset,
                e.compressed
            )));
        }
        out.push(Entry {
            name: e.name_lossy(),
            method: e.method,
            crc: e.crc,
            compressed: e.compressed,
            uncompressed: e.uncompressed,
            local_offset: e.local_offset,
        });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "osv_export_tests.rs"]
mod tests;
