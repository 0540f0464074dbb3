//! Walking the `struct linux_dirent64` records that
//! [`Chain::getdents64`](crate::Chain::getdents64) reads.

use std::ffi::CStr;

/// One directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent<'a> {
    /// Inode number.
    pub ino: u64,
    /// Offset of the next entry (for `lseek`).
    pub off: i64,
    /// File type (`libc::DT_REG`, `libc::DT_DIR`, ...).
    pub kind: u8,
    /// The name.
    pub name: &'a CStr,
}

/// An iterator over the entries in a getdents64 buffer; see [`dirents`].
#[derive(Clone, Debug)]
pub struct Dirents<'a> {
    rest: &'a [u8],
}

/// The entries in `buf`, as filled by getdents64(2). A malformed record
/// ends the walk.
pub fn dirents(buf: &[u8]) -> Dirents<'_> {
    Dirents { rest: buf }
}

/// Offset of `d_name` in `struct linux_dirent64`: `d_ino` (8), `d_off`
/// (8), `d_reclen` (2), `d_type` (1).
const NAME: usize = 19;

impl<'a> Iterator for Dirents<'a> {
    type Item = Dirent<'a>;

    fn next(&mut self) -> Option<Dirent<'a>> {
        let r = self.rest;
        if r.len() < NAME {
            return None;
        }
        let reclen = usize::from(u16::from_ne_bytes([r[16], r[17]]));
        let name = if reclen > NAME && reclen <= r.len() {
            CStr::from_bytes_until_nul(&r[NAME..reclen]).ok()
        } else {
            None
        };
        let Some(name) = name else {
            self.rest = &[];
            return None;
        };
        self.rest = &r[reclen..];
        Some(Dirent {
            ino: u64::from_ne_bytes(r[0..8].try_into().ok()?),
            off: i64::from_ne_bytes(r[8..16].try_into().ok()?),
            kind: r[18],
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ino: u64, off: i64, kind: u8, name: &str) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&ino.to_ne_bytes());
        r.extend_from_slice(&off.to_ne_bytes());
        let reclen = (NAME + name.len() + 1).next_multiple_of(8);
        r.extend_from_slice(&(reclen as u16).to_ne_bytes());
        r.push(kind);
        r.extend_from_slice(name.as_bytes());
        r.resize(reclen, 0);
        r
    }

    #[test]
    fn walks_records_and_stops_at_a_bad_one() {
        let mut buf = record(1, 10, libc::DT_DIR, ".");
        buf.extend(record(2, 20, libc::DT_REG, "hostname"));
        let got: Vec<_> = dirents(&buf).collect();
        assert_eq!(got.len(), 2);
        assert_eq!((got[1].ino, got[1].off, got[1].kind), (2, 20, libc::DT_REG));
        assert_eq!(got[1].name, c"hostname");
        // A record length past the end ends the walk.
        buf[16] = 0xff;
        assert_eq!(dirents(&buf).count(), 0);
        assert_eq!(dirents(&buf[..5]).count(), 0);
    }
}
