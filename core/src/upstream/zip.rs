//! The zip format's records, read from untrusted bytes: the end of central directory
//! record (and its zip64 form), the central directory's entries, a local header, and
//! an entry's data inflated under a cap. Shared by the wheel reader (`wheel.rs`, over
//! byte ranges of a remote file) and the OSV export reader (`osv_export.rs`, over a
//! file on disk), which each check what a record claims against their own file and
//! caps. Every field is read within bounds; a lie comes back worded, never a panic.

use std::io::Read;

/// The end of central directory record without its comment.
pub(crate) const EOCD_LEN: usize = 22;
/// A central directory entry without its name, extra field and comment.
const CENTRAL_LEN: usize = 46;
/// A local header without its name and extra field.
pub(crate) const LOCAL_LEN: usize = 30;
/// The zip64 end of central directory record, as far as it is read.
pub(crate) const ZIP64_EOCD_LEN: usize = 56;
/// The longest tail that can hold the end of central directory record: 22 bytes and
/// a comment of at most 65,535.
pub(crate) const MAX_TAIL: u64 = 22 + 65_535;

pub(crate) const EOCD_SIGNATURE: u32 = 0x0605_4b50;
pub(crate) const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
pub(crate) const ZIP64_EOCD_SIGNATURE: u32 = 0x0606_4b50;
pub(crate) const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
pub(crate) const LOCAL_SIGNATURE: u32 = 0x0403_4b50;

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// What the end of central directory record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Eocd {
    /// Where the record starts in the tail it was found in.
    pub(crate) at: usize,
    /// Entries in the directory.
    pub(crate) entries: u64,
    /// The directory's size in bytes.
    pub(crate) size: u64,
    /// The directory's offset in the file.
    pub(crate) offset: u64,
}

impl Eocd {
    /// A field at its maximum: the real values are in the zip64 record.
    pub(crate) fn is_zip64(&self) -> bool {
        self.entries == u64::from(u16::MAX)
            || self.size == u64::from(u32::MAX)
            || self.offset == u64::from(u32::MAX)
    }

    /// Where the zip64 record is, from the locator just before this record in `tail`.
    pub(crate) fn zip64_record_offset(&self, tail: &[u8]) -> Result<u64, String> {
        self.at
            .checked_sub(20)
            .filter(|&l| u32_at(tail, l) == ZIP64_LOCATOR_SIGNATURE)
            .map(|l| u64_at(tail, l + 8))
            .ok_or_else(|| "zip64 fields without a zip64 locator".into())
    }
}

/// The end of central directory record in `tail` (the file's last bytes): searched
/// backwards from the last place it can start, the first whose comment ends exactly
/// at the tail's end. `None`: not a zip (or not enough of its tail).
pub(crate) fn find_eocd(tail: &[u8]) -> Option<Eocd> {
    let last = tail.len().checked_sub(EOCD_LEN)?;
    let at = (0..=last).rev().find(|&i| {
        u32_at(tail, i) == EOCD_SIGNATURE
            && i + EOCD_LEN + usize::from(u16_at(tail, i + 20)) == tail.len()
    })?;
    Some(Eocd {
        at,
        entries: u64::from(u16_at(tail, at + 10)),
        size: u64::from(u32_at(tail, at + 12)),
        offset: u64::from(u32_at(tail, at + 16)),
    })
}

/// `(entries, size, offset)` of the directory from a zip64 record's first
/// [`ZIP64_EOCD_LEN`] bytes.
pub(crate) fn zip64_record(r: &[u8]) -> Result<(u64, u64, u64), String> {
    if r.len() < ZIP64_EOCD_LEN || u32_at(r, 0) != ZIP64_EOCD_SIGNATURE {
        return Err("no zip64 record where the locator points".into());
    }
    Ok((u64_at(r, 32), u64_at(r, 40), u64_at(r, 48)))
}

/// One entry as the central directory records it, zip64 sizes and offset applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CentralEntry<'a> {
    pub(crate) name: &'a [u8],
    /// 0 stored, 8 deflate.
    pub(crate) method: u16,
    pub(crate) crc: u32,
    pub(crate) compressed: u64,
    /// As claimed.
    pub(crate) uncompressed: u64,
    /// Where its local header starts.
    pub(crate) local_offset: u64,
}

impl CentralEntry<'_> {
    /// Where its data ends when the local header repeats the directory's name with no
    /// extra field: the least the file must hold for it. `None` on overflow.
    pub(crate) fn data_end(&self) -> Option<u64> {
        self.local_offset
            .checked_add((LOCAL_LEN + self.name.len()) as u64)?
            .checked_add(self.compressed)
    }

    /// The name, for messages.
    pub(crate) fn name_lossy(&self) -> String {
        String::from_utf8_lossy(self.name).into_owned()
    }
}

/// The `count` entries of the central directory `dir`, in order. An `Err` (the lie,
/// worded) is the last item.
pub(crate) fn central_entries(
    dir: &[u8],
    count: u64,
) -> impl Iterator<Item = Result<CentralEntry<'_>, String>> {
    let mut at = 0usize;
    let mut broken = false;
    (0..count).map_while(move |_| {
        if broken {
            return None;
        }
        let r = entry_at(dir, at);
        match &r {
            Ok((_, next)) => at = *next,
            Err(_) => broken = true,
        }
        Some(r.map(|(e, _)| e))
    })
}

/// The entry at `at` and where the next one starts.
fn entry_at(dir: &[u8], at: usize) -> Result<(CentralEntry<'_>, usize), String> {
    if at + CENTRAL_LEN > dir.len() || u32_at(dir, at) != CENTRAL_SIGNATURE {
        return Err(format!("entry at {at} of the directory"));
    }
    let name_end = at + CENTRAL_LEN + usize::from(u16_at(dir, at + 28));
    let extra_end = name_end + usize::from(u16_at(dir, at + 30));
    let (Some(name), Some(extra)) = (
        dir.get(at + CENTRAL_LEN..name_end),
        dir.get(name_end..extra_end),
    ) else {
        return Err("a name past the directory's end".into());
    };
    let mut e = CentralEntry {
        name,
        method: u16_at(dir, at + 10),
        crc: u32_at(dir, at + 16),
        compressed: u64::from(u32_at(dir, at + 20)),
        uncompressed: u64::from(u32_at(dir, at + 24)),
        local_offset: u64::from(u32_at(dir, at + 42)),
    };
    zip64_extra(&mut e, extra);
    Ok((e, extra_end + usize::from(u16_at(dir, at + 32))))
}

/// The 64-bit sizes and offset of a zip64 extra field, for the fields the entry marks
/// as `0xFFFFFFFF` (in the order the format gives them).
fn zip64_extra(e: &mut CentralEntry<'_>, mut extra: &[u8]) {
    const MAX: u64 = u32::MAX as u64;
    while extra.len() >= 4 {
        let id = u16_at(extra, 0);
        let n = usize::from(u16_at(extra, 2));
        let Some(body) = extra.get(4..4 + n) else {
            return;
        };
        if id == 1 {
            let mut at = 0;
            for field in [&mut e.uncompressed, &mut e.compressed, &mut e.local_offset] {
                if *field == MAX && at + 8 <= body.len() {
                    *field = u64_at(body, at);
                    at += 8;
                }
            }
            return;
        }
        extra = &extra[4 + n..];
    }
}

/// How far past a local header's start its data begins; `head` holds at least the
/// header's fixed [`LOCAL_LEN`] bytes. `None`: no local header there.
pub(crate) fn local_data_start(head: &[u8]) -> Option<usize> {
    (head.len() >= LOCAL_LEN && u32_at(head, 0) == LOCAL_SIGNATURE)
        .then(|| LOCAL_LEN + usize::from(u16_at(head, 26)) + usize::from(u16_at(head, 28)))
}

/// Why an entry's data could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// Neither stored (0) nor deflate (8).
    Method(u16),
    /// The data does not inflate (or could not be read).
    Damaged(String),
}

/// An entry's data inflated by `method`, stopping one byte past `cap` whatever the
/// headers claim: a result longer than `cap` means the entry is over it.
pub(crate) fn inflate_capped(
    data: impl Read,
    method: u16,
    cap: u64,
    size_hint: u64,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::with_capacity(size_hint.min(cap) as usize);
    let read = match method {
        0 => data.take(cap.saturating_add(1)).read_to_end(&mut out),
        8 => flate2::read::DeflateDecoder::new(data)
            .take(cap.saturating_add(1))
            .read_to_end(&mut out),
        m => return Err(InflateError::Method(m)),
    };
    read.map_err(|e| InflateError::Damaged(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_or_lying_records_are_worded_never_a_panic() {
        assert_eq!(find_eocd(&[0u8; 10]), None);
        assert_eq!(find_eocd(&[0u8; 40]), None);
        // A directory that claims two entries but holds a few bytes.
        let mut it = central_entries(b"PK\x01\x02short", 2);
        assert_eq!(it.next(), Some(Err("entry at 0 of the directory".into())));
        assert_eq!(it.next(), None);
        assert_eq!(local_data_start(b"PK\x03\x04"), None);
        assert!(zip64_record(&[0u8; 20]).is_err());
        assert_eq!(
            inflate_capped(&b"x"[..], 12, 10, 1),
            Err(InflateError::Method(12))
        );
        // A stored entry past its cap stops one byte over it.
        assert_eq!(
            inflate_capped(&[7u8; 100][..], 0, 10, 100).unwrap().len(),
            11
        );
    }
}
