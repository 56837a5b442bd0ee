//! What the allocator hands out for the values a document keeps, so the cache's byte
//! weigher counts what is really resident (a test checks it against a counting
//! allocator for every document kind, adversarial bodies included).

use std::mem::size_of;

/// Bytes glibc hands out for a block of `n` bytes: an 8-byte header, 16-byte granules,
/// 32 bytes at least; nothing for `n == 0` (no allocation).
pub fn block(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        (n + 8).div_ceil(16).max(2) * 16
    }
}

/// A `String`'s buffer.
pub fn string(s: &String) -> usize {
    block(s.capacity())
}

/// An optional `String`'s buffer.
pub fn opt_string(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, string)
}

/// A `Vec<T>`'s buffer (not what its elements own).
pub fn vec<T>(v: &Vec<T>) -> usize {
    block(v.capacity() * size_of::<T>())
}

/// A `Vec<String>` with its strings.
pub fn strings(v: &Vec<String>) -> usize {
    vec(v) + v.iter().map(string).sum::<usize>()
}

/// The nodes of a `BTreeMap<K, V>` with `len` entries: one leaf of 11 slots at least,
/// and nodes about half full beyond that (keys arrive in order).
pub fn btree_nodes<K, V>(len: usize) -> usize {
    let leaf = block(11 * (size_of::<K>() + size_of::<V>()) + 16);
    match len {
        0 => 0,
        1..=11 => leaf,
        n => leaf * n.div_ceil(6) * 13 / 12, // + internal nodes, about 1 per 12 leaves
    }
}

/// The block of a `Box<T>` (not what `T` owns).
pub fn boxed<T>() -> usize {
    block(size_of::<T>())
}

/// The `Arc<Document>` block holding a document inline.
pub fn arc_document() -> usize {
    block(16 + size_of::<super::Document>())
}
